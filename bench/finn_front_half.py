"""FINN's front half on a QONNX file, timed; run with a Python that has finn-plus installed.

Usage: FINN_PYTHON bench/finn_front_half.py MODEL.onnx [TARGET_FPS]

Called by bench/finn_compare.py --finn-python. Runs FINN-plus's own transformations, as its
build steps qonnx_to_finn, tidy_up, streamline and convert_to_hw do (composed here because
importing finn.builder needs Vivado), then its automatic folding (SetFolding, default
settings) for TARGET_FPS at 100 MHz and its analytic cycles per hardware layer
(get_exp_cycles). Prints one JSON line. No code generation, no Vivado.

Set-up used for bench/results (no Docker): a venv with finn-plus installed ``--no-deps`` and
the few modules it imports (rich, pandas<2.3, mashumaro, mip, onnx_passes), seeing bnnc's
venv (qonnx, onnx, numpy<2) through a .pth file.
"""

from __future__ import annotations

import json
import sys
import time

CLOCK_NS = 10.0
FPGA_PART = "xc7z020clg400-1"


def main() -> None:
    path = sys.argv[1]
    fps = float(sys.argv[2]) if len(sys.argv) > 2 else 3000.0
    t0 = time.perf_counter()
    from finn.util.settings import initialize_dummy_settings

    initialize_dummy_settings()
    import finn.transformation.streamline.absorb as absorb
    from finn.transformation.fpgadataflow.convert_to_hw.binary_matrix_vector_activation import (
        InferBinaryMatrixVectorActivation)
    from finn.transformation.fpgadataflow.convert_to_hw.conv_inp_gen import InferConvInpGen
    from finn.transformation.fpgadataflow.convert_to_hw.pool import InferPool
    from finn.transformation.fpgadataflow.convert_to_hw.quantized_matrix_vector_activation import (
        InferQuantizedMatrixVectorActivation)
    from finn.transformation.fpgadataflow.convert_to_hw.thresholding import InferThresholdingLayer
    from finn.transformation.fpgadataflow.set_folding import SetFolding
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from finn.transformation.move_reshape import RemoveCNVtoFCFlatten
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    from finn.transformation.streamline import Streamline
    from finn.transformation.streamline.reorder import MakeMaxPoolNHWC
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.bipolar_to_xnor import ConvertBipolarMatMulToXnorPopcount
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import (GiveReadableTensorNames, GiveUniqueNodeNames,
                                              RemoveStaticGraphInputs, RemoveUnusedTensors)
    from qonnx.transformation.infer_data_layouts import InferDataLayouts
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul
    from qonnx.util.cleanup import cleanup_model

    t_import = time.perf_counter() - t0

    def run(m: ModelWrapper, *transforms: object) -> ModelWrapper:
        for t in transforms:
            m = m.transform(t)
        return m

    t0 = time.perf_counter()
    m = cleanup_model(ModelWrapper(path))
    m = run(m, ConvertQONNXtoFINN(), InferShapes(), FoldConstants(), GiveUniqueNodeNames(),
            GiveReadableTensorNames(), InferDataTypes(), RemoveStaticGraphInputs())
    m = run(m, absorb.AbsorbScalarBiasIntoMultiThreshold(), Streamline())
    if m.get_nodes_by_op_type("Conv"):
        m = run(m, LowerConvsToMatMul(), MakeMaxPoolNHWC(),
                absorb.AbsorbTransposeIntoMultiThreshold(), MakeMaxPoolNHWC(),
                absorb.AbsorbConsecutiveTransposes())
    m = run(m, ConvertBipolarMatMulToXnorPopcount(), Streamline(), InferDataLayouts(),
            RemoveUnusedTensors())
    t_stream = time.perf_counter() - t0
    m = run(m, InferBinaryMatrixVectorActivation(), InferQuantizedMatrixVectorActivation(),
            InferThresholdingLayer(), InferPool(), InferConvInpGen(), RemoveCNVtoFCFlatten(),
            absorb.AbsorbConsecutiveTransposes(), GiveUniqueNodeNames(), InferDataLayouts(),
            InferDataTypes(), InferShapes())
    t_front = time.perf_counter() - t0
    res: dict[str, object] = {
        "import_s": round(t_import, 2), "streamline_s": round(t_stream, 2),
        "front_half_s": round(t_front, 2), "ops": sorted({n.op_type for n in m.graph.node})}
    try:
        t1 = time.perf_counter()
        target = int(1e9 / CLOCK_NS / fps)
        # SetFolding's first pass (per-node folding for the target). Its second,
        # "relaxation" pass analyses the whole graph as one dataflow partition, which this
        # graph is not: FINN's streamlining leaves Transpose-Mul-Transpose (Brevitas's scalar
        # scales) in software between each MVAU and its Thresholding, so
        # CreateDataflowPartition refuses it ("partition depends on itself").
        m = run(m, SpecializeLayers(FPGA_PART), SetFolding(target, two_pass_relaxation=False))
        cycles = {}
        for n in m.graph.node:
            try:
                cycles[n.name] = int(getCustomOp(n).get_exp_cycles())
            except Exception:
                pass
        worst = max(cycles, key=cycles.__getitem__)
        res.update({"target_fps": fps, "target_cycles": target,
                    "set_folding_s": round(time.perf_counter() - t1, 2), "bottleneck": worst,
                    "bottleneck_cycles": cycles[worst],
                    "fps_at_100mhz": round(1e9 / CLOCK_NS / cycles[worst], 1),
                    "cycles_per_layer": cycles})
    except Exception as exc:
        res["folding_error"] = f"{type(exc).__name__}: {exc}"[:300]
    print(json.dumps(res))


if __name__ == "__main__":
    main()
