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
// thresholds are read one cycle ahead from synchronous ROMs (bnnc_rom); W_BRAM/T_BRAM pin
// each ROM to block RAM or LUTs (rom_style), as the compiler's cost model chose
// (bnnc.cost.rom_in_bram).
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
    localparam integer SW = ((ACC_BITS > CW) ? ACC_BITS : CW) + 1;    // sum width

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

    // ---- per-PE contribution and accumulation
    wire [PE*SW-1:0] sums;
    localparam integer PC_CHUNK = 128;
    localparam integer PC_PARTS = (SIMD + PC_CHUNK - 1) / PC_CHUNK;
    genvar p, c;
    generate
        for (p = 0; p < PE; p = p + 1) begin : g_pe
            wire [SIMD-1:0] wv = w_q[p*SIMD +: SIMD];
            // popcount of the agreeing bits ($countones: an adder tree in synthesis), in
            // chunks of at most PC_CHUNK bits whose counts are then added: one $countones
            // over many hundred bits overflows the WebAssembly Yosys's stack
            // verilator lint_off UNUSEDSIGNAL
            wire [SIMD-1:0] agree = ~(wv ^ x[SIMD-1:0]);  // (unused by DOMAIN 2)
            wire [PCW-1:0] pc;
            // verilator lint_on UNUSEDSIGNAL
            if (SIMD <= PC_CHUNK) begin : g_pc
                // verilator lint_off UNUSEDSIGNAL
                wire [31:0] pc32 = $countones(agree);
                // verilator lint_on UNUSEDSIGNAL
                assign pc = pc32[PCW-1:0];
            end else begin : g_pcs
                // verilator lint_off UNUSEDSIGNAL
                wire [31:0] part [0:PC_PARTS-1];
                // verilator lint_on UNUSEDSIGNAL
                for (c = 0; c < PC_PARTS; c = c + 1) begin : g_part
                    localparam integer LO = c * PC_CHUNK;
                    localparam integer PW = (SIMD - LO < PC_CHUNK) ? SIMD - LO : PC_CHUNK;
                    assign part[c] = $countones(agree[LO +: PW]);
                end
                reg [PCW-1:0] tot;
                integer j;
                always @(*) begin
                    tot = {PCW{1'b0}};
                    for (j = 0; j < PC_PARTS; j = j + 1) tot = tot + part[j][PCW-1:0];
                end
                assign pc = tot;
            end
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
            reg signed [ACC_BITS-1:0] acc;
            wire signed [SW-1:0] base = (sf == 0) ? {SW{1'b0}} : {{(SW-ACC_BITS){acc[ACC_BITS-1]}}, acc};
            wire signed [SW-1:0] sum = base + {{(SW-CW){contrib[CW-1]}}, contrib};
            assign sums[p*SW +: SW] = sum;
            always @(posedge clk) begin
                if (fire) acc <= sum[ACC_BITS-1:0];
            end
        end
    endgenerate

    // ---- output word
    generate
        if (THRESH != 0) begin : g_thr
            // thresholds and invert flags of this nf (read one cycle ahead)
            wire [PE*ACC_BITS-1:0] t_q;
            wire [PE-1:0] i_q;
            bnnc_rom #(.WIDTH(PE*ACC_BITS), .DEPTH(NF), .FILE(T_FILE), .BRAM(T_BRAM)) u_t (
                .clk(clk), .addr(t_addr), .q(t_q));
            bnnc_rom #(.WIDTH(PE), .DEPTH(NF), .FILE(I_FILE), .BRAM(T_BRAM)) u_i (
                .clk(clk), .addr(t_addr), .q(i_q));
            genvar q;
            for (q = 0; q < PE; q = q + 1) begin : g_cmp
                wire signed [SW-1:0] thr = {{(SW-ACC_BITS){t_q[q*ACC_BITS+ACC_BITS-1]}}, t_q[q*ACC_BITS +: ACC_BITS]};
                wire signed [SW-1:0] s = sums[q*SW +: SW];
                assign out_data[q] = (s >= thr) ^ i_q[q];
            end
        end else begin : g_scores
            genvar q;
            for (q = 0; q < PE; q = q + 1) begin : g_field
                // the exact sum fits ACC_BITS (bnnc sizes it from the accumulator bounds)
                // verilator lint_off UNUSEDSIGNAL
                wire signed [SW-1:0] s = sums[q*SW +: SW];
                // verilator lint_on UNUSEDSIGNAL
                wire signed [ACC_BITS-1:0] a = s[ACC_BITS-1:0];
                assign out_data[q*OUT_BITS +: OUT_BITS] = {{(OUT_BITS-ACC_BITS){a[ACC_BITS-1]}}, a};
            end
        end
    endgenerate
endmodule
