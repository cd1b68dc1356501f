// bnnc_axis_in -- AXI4-Stream slave -> internal 64-bit stream.
//
// Pure wiring: TDATA/TVALID/TREADY pass through; TLAST, TKEEP and TSTRB are accepted
// and ignored (frames are counted by the kernels; a batch is n_frames frames of whole
// 64-bit words). No added latency.
module bnnc_axis_in (
    input  wire [63:0] s_axis_tdata,
    input  wire        s_axis_tvalid,
    output wire        s_axis_tready,
    input  wire        s_axis_tlast,
    input  wire [7:0]  s_axis_tkeep,
    input  wire [7:0]  s_axis_tstrb,
    output wire        out_valid,
    input  wire        out_ready,
    output wire [63:0] out_data
);
    assign out_valid = s_axis_tvalid;
    assign out_data = s_axis_tdata;
    assign s_axis_tready = out_ready;
    // verilator lint_off UNUSEDSIGNAL
    wire unused = s_axis_tlast ^ (^s_axis_tkeep) ^ (^s_axis_tstrb);
    // verilator lint_on UNUSEDSIGNAL
endmodule
