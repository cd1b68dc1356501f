// bnnc_rom -- a constant memory with a synchronous read: q holds rom[addr] of the last edge.
//
//   bnnc_rom #(.WIDTH, .DEPTH, .FILE, .BRAM) u (clk, addr, q);
//
// addr is clog2(DEPTH) bits wide (at least 1). FILE: DEPTH hex words of WIDTH bits ($readmemh, written by bnnc.backends.rtl). BRAM pins
// the memory to block RAM (1) or LUTs (0) through rom_style, as the compiler's cost model
// chose (bnnc.cost.rom_in_bram), so that Yosys and Vivado map what the model assumed.
module bnnc_rom #(
    parameter integer WIDTH = 1,
    parameter integer DEPTH = 1,
    parameter FILE = "rom.mem",
    parameter integer BRAM = 0
) (
    input  wire             clk,
    input  wire [((DEPTH > 1) ? $clog2(DEPTH) : 1)-1:0] addr,  // clog2(DEPTH) bits, at least 1
    output reg  [WIDTH-1:0] q
);
    generate
        if (BRAM != 0) begin : g_bram
            (* rom_style = "block" *) reg [WIDTH-1:0] rom [0:DEPTH-1];
            initial $readmemh(FILE, rom);
            always @(posedge clk) q <= rom[addr];
        end else begin : g_lut
`ifdef YOSYS
            (* rom_style = "logic" *)  // Yosys's name for LUTs; it has no LUT-ROM with a synchronous read
`else
            (* rom_style = "distributed" *)
`endif
            reg [WIDTH-1:0] rom [0:DEPTH-1];
            initial $readmemh(FILE, rom);
            always @(posedge clk) q <= rom[addr];
        end
    endgenerate
endmodule
