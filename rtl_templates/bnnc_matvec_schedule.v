// bnnc_matvec_schedule -- the static schedule and input buffer of the matrix-vector units
// (bnnc_matvec, bnnc_codebook, bnnc_bitplane).
//
//   bnnc_matvec_schedule #(.SF, .NF, .IN_W) u (clk, rst_n, in_valid, in_ready, in_data,
//                                              out_valid, out_ready, fire, sf, nf,
//                                              tile_addr, nf_addr, x);
//
// NF*SF steps per vector, vectors (and frames) back to back: step (nf, sf) reads an input
// word when nf == 0 (kept in an SF-word buffer, re-read for nf > 0) and writes an output
// word when sf == SF-1. A step fires when its input is valid (if it reads) and the output
// is ready (if it writes). x is the step's input word (from the stream while nf == 0);
// tile_addr (nf*SF + sf) and nf_addr are the coordinates of the step after this cycle, for
// the unit's ROMs read one cycle ahead (bnnc_rom).
// Every counter and coordinate is as wide as its range (at least 1 bit): sf clog2(SF),
// nf and nf_addr clog2(NF), tile_addr clog2(NF*SF) bits -- the address widths of bnnc_rom
// with DEPTH = NF*SF and NF.
module bnnc_matvec_schedule #(
    parameter integer SF = 1,
    parameter integer NF = 1,
    parameter integer IN_W = 1
) (
    input  wire                                          clk,
    input  wire                                          rst_n,
    input  wire                                          in_valid,
    output wire                                          in_ready,
    input  wire [IN_W-1:0]                               in_data,
    output wire                                          out_valid,
    input  wire                                          out_ready,
    output wire                                          fire,
    output reg  [((SF > 1) ? $clog2(SF) : 1)-1:0]        sf,
    output reg  [((NF > 1) ? $clog2(NF) : 1)-1:0]        nf,
    output wire [((NF * SF > 1) ? $clog2(NF * SF) : 1)-1:0] tile_addr,
    output wire [((NF > 1) ? $clog2(NF) : 1)-1:0]        nf_addr,
    output wire [IN_W-1:0]                               x
);
    localparam integer TILES = NF * SF;
    localparam integer SFW = (SF > 1) ? $clog2(SF) : 1;
    localparam integer NFW = (NF > 1) ? $clog2(NF) : 1;
    localparam integer TW = (TILES > 1) ? $clog2(TILES) : 1;
    // the last values at the counters' widths
    // verilator lint_off WIDTHTRUNC
    localparam [SFW-1:0] SF_LAST = SF - 1;
    localparam [NFW-1:0] NF_LAST = NF - 1;
    localparam [TW-1:0] TILE_LAST = TILES - 1;
    // verilator lint_on WIDTHTRUNC

    reg [TW-1:0] tile;
    wire rd = (nf == {NFW{1'b0}});
    wire wr = (sf == SF_LAST);
    assign fire = (!rd || in_valid) && (!wr || out_ready);
    assign in_ready = rd && (!wr || out_ready);
    assign out_valid = wr && (!rd || in_valid);
    wire [SFW-1:0] sf_next = wr ? {SFW{1'b0}} : sf + 1'b1;
    wire [NFW-1:0] nf_next = wr ? ((nf == NF_LAST) ? {NFW{1'b0}} : nf + 1'b1) : nf;
    wire [TW-1:0] tile_next = (tile == TILE_LAST) ? {TW{1'b0}} : tile + 1'b1;
    assign tile_addr = fire ? tile_next : tile;
    assign nf_addr = fire ? nf_next : nf;
    always @(posedge clk) begin
        if (!rst_n) begin
            sf <= {SFW{1'b0}};
            nf <= {NFW{1'b0}};
            tile <= {TW{1'b0}};
        end else if (fire) begin
            sf <= sf_next;
            nf <= nf_next;
            tile <= tile_next;
        end
    end

    generate
        if (NF > 1) begin : g_vec
            reg [IN_W-1:0] vec [0:SF-1];
            always @(posedge clk) begin
                if (fire && rd) vec[sf] <= in_data;
            end
            assign x = rd ? in_data : vec[sf];
        end else begin : g_novec
            assign x = in_data;
        end
    endgenerate
endmodule
