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
// Cycle behaviour: a static schedule of NF*SF steps per vector (vectors back to back,
// frames too): step (nf, sf) reads an input word when nf == 0 (kept in an SF-word
// buffer, re-read for nf > 0) and writes an output word when sf == SF-1, in the same
// cycle as it adds the last contribution. A step fires when its input is valid (if it
// reads) and the output is ready (if it writes). Weights and thresholds are read one
// cycle ahead from synchronous ROMs; W_BRAM/T_BRAM pin each ROM to block RAM or LUTs
// (rom_style), as the compiler's cost model chose (bnnc.cost.rom_in_bram).
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

    // ---- schedule
    reg [31:0] sf, nf, tile;
    wire rd = (nf == 0);
    wire wr = (sf == SF - 1);
    wire fire = (!rd || in_valid) && (!wr || out_ready);
    assign in_ready = rd && (!wr || out_ready);
    assign out_valid = wr && (!rd || in_valid);
    wire [31:0] sf_next = wr ? 0 : sf + 1;
    wire [31:0] nf_next = wr ? ((nf == NF - 1) ? 0 : nf + 1) : nf;
    wire [31:0] tile_next = (tile == TILES - 1) ? 0 : tile + 1;
    always @(posedge clk) begin
        if (!rst_n) begin
            sf <= 0;
            nf <= 0;
            tile <= 0;
        end else if (fire) begin
            sf <= sf_next;
            nf <= nf_next;
            tile <= tile_next;
        end
    end

    // ---- the input word of this step: from the stream while nf == 0, else the buffer
    wire [IN_W-1:0] x;
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

    // ---- weights: w_q always holds wrom[tile] (read one cycle ahead)
    reg [PE*SIMD-1:0] w_q;
    // verilator lint_off UNUSEDSIGNAL
    wire [31:0] w_addr = fire ? tile_next : tile;  // only the low bits address the ROM
    // verilator lint_on UNUSEDSIGNAL
    generate
        if (W_BRAM != 0) begin : g_wbram
            (* rom_style = "block" *) reg [PE*SIMD-1:0] wrom [0:TILES-1];
            initial $readmemh(W_FILE, wrom);
            always @(posedge clk) w_q <= wrom[w_addr];
        end else begin : g_wlut
`ifdef YOSYS
            (* rom_style = "logic" *)  // Yosys's name for LUTs; it has no LUT-ROM with a synchronous read
`else
            (* rom_style = "distributed" *)
`endif
            reg [PE*SIMD-1:0] wrom [0:TILES-1];
            initial $readmemh(W_FILE, wrom);
            always @(posedge clk) w_q <= wrom[w_addr];
        end
    endgenerate

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
            reg [PE*ACC_BITS-1:0] t_q;
            reg [PE-1:0] i_q;
            // verilator lint_off UNUSEDSIGNAL
            wire [31:0] t_addr = fire ? nf_next : nf;
            // verilator lint_on UNUSEDSIGNAL
            if (T_BRAM != 0) begin : g_tbram
                (* rom_style = "block" *) reg [PE*ACC_BITS-1:0] trom [0:NF-1];
                (* rom_style = "block" *) reg [PE-1:0] irom [0:NF-1];
                initial $readmemh(T_FILE, trom);
                initial $readmemh(I_FILE, irom);
                always @(posedge clk) begin
                    t_q <= trom[t_addr];
                    i_q <= irom[t_addr];
                end
            end else begin : g_tlut
`ifdef YOSYS
                (* rom_style = "logic" *)
`else
                (* rom_style = "distributed" *)
`endif
                reg [PE*ACC_BITS-1:0] trom [0:NF-1];
`ifdef YOSYS
                (* rom_style = "logic" *)
`else
                (* rom_style = "distributed" *)
`endif
                reg [PE-1:0] irom [0:NF-1];
                initial $readmemh(T_FILE, trom);
                initial $readmemh(I_FILE, irom);
                always @(posedge clk) begin
                    t_q <= trom[t_addr];
                    i_q <= irom[t_addr];
                end
            end
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
