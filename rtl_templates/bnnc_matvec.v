// bnnc_matvec -- matrix-vector unit with binary weights; threshold or score output.
//
//   bnnc_matvec #(.MW, .MH, .PE, .SIMD, .IN_BITS, .DOMAIN, .ACC_BITS, .OUT_BITS, .MASKED,
//                 .THRESH, .W_FILE, .T_FILE, .I_FILE, .W_BRAM, .T_BRAM) u (clk, rst_n, in_*, out_*);
//
// SF = MW/SIMD input words per vector, NF = MH/PE output words per vector.
// Stream format: identical to bnnc_matvec.h. Input word sf holds vector elements
// sf*SIMD .. sf*SIMD+SIMD-1 (element i at bits i*IN_BITS; with MASKED the valid bit is
// bit SIMD*IN_BITS). Per input word and PE the contribution is
//   DOMAIN 0 (bipolar, unmasked): popcount(~(w ^ x))
//   DOMAIN 1 (bipolar):           valid ? 2*popcount(~(w ^ x)) - SIMD : 0
//   DOMAIN 2 (uint8 elements):    sum_i (w_i ? x_i : -x_i)
// summed over sf in a signed ACC_BITS accumulator. Output per vector NF words:
//   THRESH=1: PE bits, bit pe = (acc >= thr) ^ inv of neuron nf*PE + pe;
//   THRESH=0: PE two's-complement OUT_BITS fields, neuron nf*PE + pe at field pe.
// Constant memories ($readmemh, one hex word per line, written by bnnc.backends.rtl):
//   W_FILE: NF*SF words of PE*SIMD bits; word nf*SF+sf, bits pe*SIMD+i = weight of neuron
//           nf*PE+pe, input sf*SIMD+i (1 = +1);
//   T_FILE: NF words of PE*ACC_BITS bits (two's complement thresholds, PE pe at pe*ACC_BITS);
//   I_FILE: NF words of PE bits (invert flags).
//
// Cycle behaviour: bnnc_matvec_schedule's static schedule of NF*SF steps per vector
// (vectors back to back, frames too): step (nf, sf) reads an input word when nf == 0
// (kept in an SF-word buffer, re-read for nf > 0) and writes an output word when
// sf == SF-1, in the same cycle as it adds the last contribution. A step fires when its
// input is valid (if it reads) and the output is ready (if it writes). Weights and
// thresholds are read one cycle ahead from synchronous ROMs (bnnc_rom; the thresholds in
// bnnc_matvec_acc, with the accumulators and the output word); W_BRAM/T_BRAM pin each ROM
// to block RAM or LUTs (rom_style), as the compiler's cost model chose
// (bnnc.cost.rom_in_bram). The popcount is bnnc_popcount's.
module bnnc_matvec #(
    parameter integer MW = 4,
    parameter integer MH = 4,
    parameter integer PE = 1,
    parameter integer SIMD = 1,
    parameter integer IN_BITS = 1,
    parameter integer DOMAIN = 1,
    parameter integer ACC_BITS = 8,
    parameter integer OUT_BITS = 32,
    parameter integer MASKED = 0,
    parameter integer THRESH = 1,
    parameter W_FILE = "w.mem",
    parameter T_FILE = "t.mem",
    parameter I_FILE = "i.mem",
    parameter integer W_BRAM = 0,  // weight ROM in block RAM (1) or LUTs (0): bnnc.cost.rom_in_bram
    parameter integer T_BRAM = 0   // threshold/invert ROMs likewise
) (
    input  wire                                   clk,
    input  wire                                   rst_n,
    input  wire                                   in_valid,
    output wire                                   in_ready,
    input  wire [SIMD*IN_BITS+MASKED-1:0]         in_data,
    output wire                                   out_valid,
    input  wire                                   out_ready,
    output wire [((THRESH != 0) ? PE : PE*OUT_BITS)-1:0] out_data
);
    localparam integer SF = MW / SIMD;
    localparam integer NF = MH / PE;
    localparam integer TILES = NF * SF;
    localparam integer IN_W = SIMD * IN_BITS + MASKED;
    localparam integer PCW = $clog2(SIMD + 1);                        // popcount width
    localparam integer CW = (DOMAIN == 2) ? IN_BITS + PCW + 2 : PCW + 2;  // contribution

    // ---- schedule and input buffer (x: this step's input word)
    wire fire;
    // counters and ROM addresses as wide as their ranges (bnnc_matvec_schedule)
    localparam integer SFW = (SF > 1) ? $clog2(SF) : 1;
    localparam integer NFW = (NF > 1) ? $clog2(NF) : 1;
    localparam integer TW = (TILES > 1) ? $clog2(TILES) : 1;
    wire [SFW-1:0] sf;
    wire [TW-1:0] w_addr;
    // verilator lint_off UNUSEDSIGNAL
    wire [NFW-1:0] nf, t_addr;  // (the ROMs read t_addr; no thresholds: neither is read)
    // verilator lint_on UNUSEDSIGNAL
    wire [IN_W-1:0] x;
    bnnc_matvec_schedule #(.SF(SF), .NF(NF), .IN_W(IN_W)) u_sched (
        .clk(clk), .rst_n(rst_n), .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data),
        .out_valid(out_valid), .out_ready(out_ready), .fire(fire), .sf(sf), .nf(nf),
        .tile_addr(w_addr), .nf_addr(t_addr), .x(x));

    // ---- weights: w_q always holds weight word nf*SF + sf (read one cycle ahead)
    wire [PE*SIMD-1:0] w_q;
    bnnc_rom #(.WIDTH(PE*SIMD), .DEPTH(TILES), .FILE(W_FILE), .BRAM(W_BRAM)) u_w (
        .clk(clk), .addr(w_addr), .q(w_q));

    // ---- per-PE contribution of this step
    wire [PE*CW-1:0] contribs;
    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : g_pe
            wire [SIMD-1:0] wv = w_q[p*SIMD +: SIMD];
            // verilator lint_off UNUSEDSIGNAL
            wire [SIMD-1:0] agree = ~(wv ^ x[SIMD-1:0]);  // (unused by DOMAIN 2)
            wire [PCW-1:0] pc;
            // verilator lint_on UNUSEDSIGNAL
            bnnc_popcount #(.N(SIMD), .W(PCW)) u_pc (.bits(agree), .count(pc));
            reg signed [CW-1:0] contrib;
            if (DOMAIN == 2) begin : g_int
                // (a generate branch: binary layers do not elaborate this SIMD-long chain)
                integer i;
                always @(*) begin
                    contrib = {CW{1'b0}};
                    for (i = 0; i < SIMD; i = i + 1) begin
                        if (wv[i])
                            contrib = contrib + $signed({{(CW-IN_BITS){1'b0}}, x[i*IN_BITS +: IN_BITS]});
                        else
                            contrib = contrib - $signed({{(CW-IN_BITS){1'b0}}, x[i*IN_BITS +: IN_BITS]});
                    end
                end
            end else begin : g_bin
                always @(*) begin
                    if (DOMAIN == 0)
                        contrib = $signed({{(CW-PCW){1'b0}}, pc});
                    else if (MASKED != 0 && !x[IN_W-1])
                        contrib = {CW{1'b0}};
                    else
                        contrib = $signed({{(CW-PCW-1){1'b0}}, pc, 1'b0}) - $signed(SIMD[CW-1:0]);
                end
            end
            assign contribs[p*CW +: CW] = contrib;
        end
    endgenerate

    // ---- accumulators and output word (thresholds read one cycle ahead at t_addr)
    bnnc_matvec_acc #(.PE(PE), .NF(NF), .CW(CW), .ACC_BITS(ACC_BITS), .OUT_BITS(OUT_BITS),
                      .THRESH(THRESH), .T_FILE(T_FILE), .I_FILE(I_FILE), .T_BRAM(T_BRAM)) u_acc (
        .clk(clk), .fire(fire), .first(sf == 0), .t_addr(t_addr), .contrib(contribs),
        .out_data(out_data));
endmodule
