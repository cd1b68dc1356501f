"""Synthesizable Verilog kernels of bnnc (one module per kernel) and the Jinja top template."""
