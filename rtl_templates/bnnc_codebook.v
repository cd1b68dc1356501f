// bnnc_codebook -- codebook matrix-vector unit of a sub-bit conv; threshold or score output.
//
//   bnnc_codebook #(.C, .MH, .T, .TAU, .PE, .SIMD, .DOMAIN, .ACC_BITS, .OUT_BITS, .MASKED,
//                   .THRESH, .REUSE, .B_FILE, .X_FILE, .T_FILE, .I_FILE, .X_BRAM, .T_BRAM)
//                 u (clk, rst_n, in_*, out_*);
//
// Stream format: identical to bnnc_codebook.h. SF = C/SIMD input words per vector (the
// "ckk" window: word sf holds the T taps of channels sf*SIMD+i at bits i*T + t; with
// MASKED, bit SIMD*T + t is tap t's valid bit), NF = MH/PE output words per vector. Per
// input word, PE and channel i with codeword w = book[index] and valid taps v:
//   pc = popcount(~(w ^ x_i) & v);   DOMAIN 0: contribution pc;  DOMAIN 1: 2*pc - popcount(v)
// summed into a signed ACC_BITS accumulator; output as bnnc_matvec (THRESH=1: PE bits,
// THRESH=0: PE OUT_BITS score fields).
// Constant memories ($readmemh):
//   B_FILE: 2**TAU words of T bits, codeword k (tap t at bit t, 1 = +1) -- a ROM in LUTs;
//   X_FILE: NF*SF words of PE*SIMD*TAU bits; word nf*SF+sf, bits (pe*SIMD+i)*TAU.. = index
//           of neuron nf*PE+pe on channel sf*SIMD+i -- the sub-bit weight memory;
//   T_FILE, I_FILE: thresholds and invert flags as bnnc_matvec.
// Structure: REUSE=0 (decode): each (PE, channel) looks its codeword up in the codebook ROM
// and XNORs it with the input (one LUT6 per tap at TAU = 5); one popcount per PE over all
// SIMD*T agreeing bits. REUSE=1 (reuse): per channel the popcounts against all 2**TAU
// codewords are computed once (shared by every PE); each (PE, channel) selects one by
// index (a 2**TAU:1 multiplexer of small counts).
//
// Cycle behaviour: bnnc_matvec's static schedule, with SF = C/SIMD: NF*SF steps per vector;
// step (nf, sf) reads an input word when nf == 0 (kept in an SF-word buffer) and writes
// an output word when sf == SF-1. Indices and thresholds are read one cycle ahead from
// synchronous ROMs; X_BRAM/T_BRAM pin each ROM to block RAM or LUTs (rom_style), as the
// compiler's cost model chose (bnnc.cost.weight_in_bram, rom_in_bram).
module bnnc_codebook #(
    parameter integer C = 4,
    parameter integer MH = 4,
    parameter integer T = 9,
    parameter integer TAU = 2,
    parameter integer PE = 1,
    parameter integer SIMD = 1,
    parameter integer DOMAIN = 1,
    parameter integer ACC_BITS = 8,
    parameter integer OUT_BITS = 32,
    parameter integer MASKED = 0,
    parameter integer THRESH = 1,
    parameter integer REUSE = 0,
    parameter B_FILE = "b.mem",
    parameter X_FILE = "x.mem",
    parameter T_FILE = "t.mem",
    parameter I_FILE = "i.mem",
    parameter integer X_BRAM = 0,  // index ROM in block RAM (1) or LUTs (0)
    parameter integer T_BRAM = 0   // threshold/invert ROMs likewise
) (
    input  wire                                   clk,
    input  wire                                   rst_n,
    input  wire                                   in_valid,
    output wire                                   in_ready,
    input  wire [SIMD*T+MASKED*T-1:0]             in_data,
    output wire                                   out_valid,
    input  wire                                   out_ready,
    output wire [((THRESH != 0) ? PE : PE*OUT_BITS)-1:0] out_data
);
    localparam integer SF = C / SIMD;
    localparam integer NF = MH / PE;
    localparam integer TILES = NF * SF;
    localparam integer WORDS = 1 << TAU;
    localparam integer DATA_W = SIMD * T;
    localparam integer IN_W = DATA_W + MASKED * T;
    localparam integer PCW = $clog2(T + 1);              // popcount of one channel
    localparam integer SPW = $clog2(SIMD * T + 1);       // popcount of a word
    localparam integer CW = SPW + 2;                     // contribution (signed)
    localparam integer SW = ((ACC_BITS > CW) ? ACC_BITS : CW) + 1;

    // ---- schedule (as bnnc_matvec)
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

    wire [T-1:0] valid;
    generate
        if (MASKED != 0) begin : g_mask
            assign valid = x[IN_W-1:DATA_W];
        end else begin : g_nomask
            assign valid = {T{1'b1}};
        end
    endgenerate
    // verilator lint_off UNUSEDSIGNAL
    wire [31:0] nvalid32 = $countones(valid);
    wire [31:0] nvs = nvalid32 * SIMD;               // SIMD*popcount(v) < 2**SPW
    // verilator lint_on UNUSEDSIGNAL

    // ---- the codebook (ROM in LUTs) and the index memory (read one cycle ahead)
    reg [T-1:0] book [0:WORDS-1];
    initial $readmemh(B_FILE, book);
    reg [PE*SIMD*TAU-1:0] x_q;
    // verilator lint_off UNUSEDSIGNAL
    wire [31:0] x_addr = fire ? tile_next : tile;
    // verilator lint_on UNUSEDSIGNAL
    generate
        if (X_BRAM != 0) begin : g_xbram
            (* rom_style = "block" *) reg [PE*SIMD*TAU-1:0] xrom [0:TILES-1];
            initial $readmemh(X_FILE, xrom);
            always @(posedge clk) x_q <= xrom[x_addr];
        end else begin : g_xlut
`ifdef YOSYS
            (* rom_style = "logic" *)  // Yosys's name for LUTs
`else
            (* rom_style = "distributed" *)
`endif
            reg [PE*SIMD*TAU-1:0] xrom [0:TILES-1];
            initial $readmemh(X_FILE, xrom);
            always @(posedge clk) x_q <= xrom[x_addr];
        end
    endgenerate

    // ---- reuse: popcount of every channel against every codeword, shared by all PEs
    // verilator lint_off UNUSEDSIGNAL
    wire [PCW-1:0] shared [0:SIMD*WORDS-1];  // unused in decode mode (REUSE == 0)
    // verilator lint_on UNUSEDSIGNAL
    localparam integer PC_CHUNK = 128;
    localparam integer PC_PARTS = (DATA_W + PC_CHUNK - 1) / PC_CHUNK;
    genvar i, k, p, c;
    generate
        if (REUSE != 0) begin : g_reuse
            for (i = 0; i < SIMD; i = i + 1) begin : g_ch
                for (k = 0; k < WORDS; k = k + 1) begin : g_word
                    wire [T-1:0] agree = ~(book[k] ^ x[i*T +: T]) & valid;
                    // verilator lint_off UNUSEDSIGNAL
                    wire [31:0] c32 = $countones(agree);
                    // verilator lint_on UNUSEDSIGNAL
                    assign shared[i*WORDS + k] = c32[PCW-1:0];
                end
            end
        end
    endgenerate

    wire [PE*SW-1:0] sums;
    generate
        for (p = 0; p < PE; p = p + 1) begin : g_pe
            reg [SPW-1:0] pc;
            if (REUSE != 0) begin : g_reuse_pe
                wire [PCW-1:0] pcs [0:SIMD-1];
                for (i = 0; i < SIMD; i = i + 1) begin : g_ch
                    wire [TAU-1:0] idx = x_q[(p*SIMD + i)*TAU +: TAU];
                    // verilator lint_off UNUSEDSIGNAL
                    wire [31:0] sel = i * WORDS + {{(32-TAU){1'b0}}, idx};
                    // verilator lint_on UNUSEDSIGNAL
                    assign pcs[i] = shared[sel[$clog2(SIMD*WORDS)-1:0]];
                end
                integer j;
                always @(*) begin
                    pc = {SPW{1'b0}};
                    for (j = 0; j < SIMD; j = j + 1) pc = pc + {{(SPW-PCW){1'b0}}, pcs[j]};
                end
            end else begin : g_decode_pe
                // each (channel, tap): codeword bit (a function of the index) XNOR input bit,
                // then one popcount of all SIMD*T agreeing bits, as bnnc_matvec's (in chunks
                // of at most PC_CHUNK bits, whose counts are added)
                wire [DATA_W-1:0] agree;
                for (i = 0; i < SIMD; i = i + 1) begin : g_ch
                    wire [TAU-1:0] idx = x_q[(p*SIMD + i)*TAU +: TAU];
                    assign agree[i*T +: T] = ~(book[idx] ^ x[i*T +: T]) & valid;
                end
                // verilator lint_off UNUSEDSIGNAL
                wire [31:0] part [0:PC_PARTS-1];
                // verilator lint_on UNUSEDSIGNAL
                for (c = 0; c < PC_PARTS; c = c + 1) begin : g_part
                    localparam integer LO = c * PC_CHUNK;
                    localparam integer PW = (DATA_W - LO < PC_CHUNK) ? DATA_W - LO : PC_CHUNK;
                    assign part[c] = $countones(agree[LO +: PW]);
                end
                integer j;
                always @(*) begin
                    pc = {SPW{1'b0}};
                    for (j = 0; j < PC_PARTS; j = j + 1) pc = pc + part[j][SPW-1:0];
                end
            end
            wire signed [CW-1:0] dot = $signed({1'b0, pc, 1'b0}) - $signed({2'b00, nvs[SPW-1:0]});
            wire signed [CW-1:0] contrib = (DOMAIN == 0) ? $signed({2'b00, pc}) : dot;
            reg signed [ACC_BITS-1:0] acc;
            wire signed [SW-1:0] base = (sf == 0) ? {SW{1'b0}} : {{(SW-ACC_BITS){acc[ACC_BITS-1]}}, acc};
            wire signed [SW-1:0] sum = base + {{(SW-CW){contrib[CW-1]}}, contrib};
            assign sums[p*SW +: SW] = sum;
            always @(posedge clk) begin
                if (fire) acc <= sum[ACC_BITS-1:0];
            end
        end
    endgenerate

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
                // verilator lint_off UNUSEDSIGNAL
                wire signed [SW-1:0] s = sums[q*SW +: SW];
                // verilator lint_on UNUSEDSIGNAL
                wire signed [ACC_BITS-1:0] a = s[ACC_BITS-1:0];
                assign out_data[q*OUT_BITS +: OUT_BITS] = {{(OUT_BITS-ACC_BITS){a[ACC_BITS-1]}}, a};
            end
        end
    endgenerate
endmodule
