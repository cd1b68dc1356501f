// bnnc_bitplane -- the bit-plane unit: per-plane XNOR-popcount, table lookup, adder, threshold.
//
//   bnnc_bitplane #(.MH, .PE, .PLANES, .TAPS, .EBITS, .ACC_BITS, .W_FILE, .TAB_FILE,
//                   .T_FILE, .I_FILE, .W_BRAM, .T_BRAM) u (clk, rst_n, in_*, out_*);
//
// SF = TAPS input words per window (one tap of all PLANES planes each, plane j at bit j),
// NF = MH/PE output words per window. Stream format and arithmetic: identical to
// bnnc::bitplane_matvec (bnnc_bitplane.h). Per (PE pe, plane j) a counter n_j adds the
// agreeing bits ~(w ^ x)[j] over the window's TAPS words; at the last tap
// acc = sum_j tab_{nf*PE+pe, j}[n_j], exact in ACC_BITS two's complement, and out bit
// pe = (acc >= thr) ^ inv of filter nf*PE + pe.
// Constant memories ($readmemh, written by bnnc.backends.rtl):
//   W_FILE:   NF*SF words of PE*PLANES bits; word nf*SF+sf, bits pe*PLANES+j = kernel bit of
//             (plane j, filter nf*PE+pe) at tap sf (1 = +1);
//   TAB_FILE: NF words of PE*PLANES*(TAPS+1)*EBITS bits; word nf holds entry c of (plane j,
//             filter nf*PE+pe) at bits ((pe*PLANES + j)*(TAPS+1) + c)*EBITS (two's complement);
//   T_FILE:   NF words of PE*ACC_BITS bits (thresholds); I_FILE: NF words of PE bits.
// The tables are constant logic: word nf is read combinationally (nf is a register) and
// each (PE, plane) selects its entry by n_j -- per entry bit a function of nf and n_j,
// which synthesis maps to LUTs (one LUT6 per bit while NF*(TAPS+1) <= 64).
//
// Cycle behaviour: bnnc_matvec_schedule's (NF*SF steps per window; step (nf, sf) reads an
// input word when nf == 0, writes an output word when sf == SF-1, in the cycle that counts
// the last tap). Weights and thresholds are read one cycle ahead from synchronous ROMs
// (bnnc_rom; W_BRAM/T_BRAM as bnnc.cost.rom_in_bram chose).
module bnnc_bitplane #(
    parameter integer MH = 4,
    parameter integer PE = 1,
    parameter integer PLANES = 8,
    parameter integer TAPS = 9,
    parameter integer EBITS = 8,
    parameter integer ACC_BITS = 12,
    parameter W_FILE = "w.mem",
    parameter TAB_FILE = "tab.mem",
    parameter T_FILE = "t.mem",
    parameter I_FILE = "i.mem",
    parameter integer W_BRAM = 0,
    parameter integer T_BRAM = 0
) (
    input  wire              clk,
    input  wire              rst_n,
    input  wire              in_valid,
    output wire              in_ready,
    input  wire [PLANES-1:0] in_data,
    output wire              out_valid,
    input  wire              out_ready,
    output wire [PE-1:0]     out_data
);
    localparam integer SF = TAPS;
    localparam integer NF = MH / PE;
    localparam integer CB = $clog2(TAPS + 1);            // counter width
    localparam integer ROW = (TAPS + 1) * EBITS;         // one (PE, plane) table
    localparam integer NFB = (NF > 1) ? $clog2(NF) : 1;

    // ---- schedule and input buffer (x: this step's input word)
    wire fire;
    // counters and ROM addresses as wide as their ranges (bnnc_matvec_schedule)
    localparam integer SFW = (SF > 1) ? $clog2(SF) : 1;
    localparam integer TW = (NF * SF > 1) ? $clog2(NF * SF) : 1;
    wire [SFW-1:0] sf;
    wire [NFB-1:0] nf, t_addr;
    wire [TW-1:0] w_addr;
    wire [PLANES-1:0] x;
    bnnc_matvec_schedule #(.SF(SF), .NF(NF), .IN_W(PLANES)) u_sched (
        .clk(clk), .rst_n(rst_n), .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data),
        .out_valid(out_valid), .out_ready(out_ready), .fire(fire), .sf(sf), .nf(nf),
        .tile_addr(w_addr), .nf_addr(t_addr), .x(x));

    // ---- weights of this step; thresholds and invert flags of this nf (read one cycle ahead)
    wire [PE*PLANES-1:0] w_q;
    wire [PE*ACC_BITS-1:0] t_q;
    wire [PE-1:0] i_q;
    bnnc_rom #(.WIDTH(PE*PLANES), .DEPTH(NF*SF), .FILE(W_FILE), .BRAM(W_BRAM)) u_w (
        .clk(clk), .addr(w_addr), .q(w_q));
    bnnc_rom #(.WIDTH(PE*ACC_BITS), .DEPTH(NF), .FILE(T_FILE), .BRAM(T_BRAM)) u_t (
        .clk(clk), .addr(t_addr), .q(t_q));
    bnnc_rom #(.WIDTH(PE), .DEPTH(NF), .FILE(I_FILE), .BRAM(T_BRAM)) u_i (
        .clk(clk), .addr(t_addr), .q(i_q));

    // ---- the per-plane tables: row nf holds every (PE, plane) table of this filter group
`ifdef YOSYS
    (* rom_style = "logic" *)
`endif
    reg [PE*PLANES*ROW-1:0] tab [0:NF-1];
    initial $readmemh(TAB_FILE, tab);
    wire [PE*PLANES*ROW-1:0] tab_row = tab[nf];

    genvar p, j;
    generate
        for (p = 0; p < PE; p = p + 1) begin : g_pe
            wire [PLANES-1:0] agree = ~(w_q[p*PLANES +: PLANES] ^ x);
            wire [PLANES*ACC_BITS-1:0] entries;
            for (j = 0; j < PLANES; j = j + 1) begin : g_plane
                reg [CB-1:0] cnt;
                wire [CB-1:0] one = 1;
                wire [CB-1:0] n = ((sf == 0) ? {CB{1'b0}} : cnt) + (agree[j] ? one : {CB{1'b0}});
                always @(posedge clk) begin
                    if (fire) cnt <= n;
                end
                wire [ROW-1:0] t = tab_row[(p*PLANES + j)*ROW +: ROW];
                wire [EBITS-1:0] e = t[n*EBITS +: EBITS];
                assign entries[j*ACC_BITS +: ACC_BITS] = {{(ACC_BITS-EBITS){e[EBITS-1]}}, e};
            end
            // adder tree over the planes (partial sums wrap; the whole sum fits ACC_BITS)
            reg [ACC_BITS-1:0] acc;
            integer k;
            always @(*) begin
                acc = {ACC_BITS{1'b0}};
                for (k = 0; k < PLANES; k = k + 1) acc = acc + entries[k*ACC_BITS +: ACC_BITS];
            end
            wire signed [ACC_BITS-1:0] s = acc;
            wire signed [ACC_BITS-1:0] thr = t_q[p*ACC_BITS +: ACC_BITS];
            assign out_data[p] = (s >= thr) ^ i_q[p];
        end
    endgenerate
endmodule
