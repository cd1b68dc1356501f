// bnnc_code_map -- per-channel code ROM of the bit-plane first layer (pure wiring + ROM).
//
//   bnnc_code_map #(.C, .CODE_FILE) u (clk, rst_n, in_*, out_*);
//
// Stream format: identical to bnnc::code_map (bnnc_bitplane.h). A word is one pixel,
// channel c at bits 8c..8c+7; the output byte c is code[input byte c], so bit c*8 + i of
// the output is bit-plane i of channel c (1 = +1).
// CODE_FILE: 256 hex bytes ($readmemh), entry p = the code of pixel value p.
//
// Cycle behaviour: a copy; every step reads and writes one word, in the same cycle
// (combinational, no register on the data path).
module bnnc_code_map #(
    parameter integer C = 1,
    parameter CODE_FILE = "code.mem"
) (
    input  wire           clk,
    input  wire           rst_n,
    input  wire           in_valid,
    output wire           in_ready,
    input  wire [C*8-1:0] in_data,
    output wire           out_valid,
    input  wire           out_ready,
    output wire [C*8-1:0] out_data
);
    reg [7:0] rom [0:255];
    initial $readmemh(CODE_FILE, rom);
    assign out_valid = in_valid;
    assign in_ready = out_ready;
    genvar c;
    generate
        for (c = 0; c < C; c = c + 1) begin : g_ch
            assign out_data[c*8 +: 8] = rom[in_data[c*8 +: 8]];
        end
    endgenerate
    // verilator lint_off UNUSEDSIGNAL
    wire unused = clk ^ rst_n;
    // verilator lint_on UNUSEDSIGNAL
endmodule
