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
// summed into a signed ACC_BITS accumulator; output as bnnc_matvec (bnnc_matvec_acc:
// THRESH=1: PE bits, THRESH=0: PE OUT_BITS score fields).
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
// Cycle behaviour: bnnc_matvec's, through the same submodules: bnnc_matvec_schedule (NF*SF
// steps per vector; step (nf, sf) reads an input word when nf == 0, kept in an SF-word
// buffer, and writes an output word when sf == SF-1), bnnc_rom (indices read one cycle
// ahead; X_BRAM pins the index ROM to block RAM or LUTs as bnnc.cost.weight_in_bram chose)
// and bnnc_matvec_acc (accumulators, thresholds read one cycle ahead, T_BRAM likewise).
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

    // ---- schedule and input buffer (x: this step's input word)
    wire fire;
    // counters and ROM addresses as wide as their ranges (bnnc_matvec_schedule)
    localparam integer SFW = (SF > 1) ? $clog2(SF) : 1;
    localparam integer NFW = (NF > 1) ? $clog2(NF) : 1;
    localparam integer TW = (TILES > 1) ? $clog2(TILES) : 1;
    wire [SFW-1:0] sf;
    wire [TW-1:0] x_addr;
    wire [NFW-1:0] t_addr;
    // verilator lint_off UNUSEDSIGNAL
    wire [NFW-1:0] nf;  // (the ROMs read the addresses)
    // verilator lint_on UNUSEDSIGNAL
    wire [IN_W-1:0] x;
    bnnc_matvec_schedule #(.SF(SF), .NF(NF), .IN_W(IN_W)) u_sched (
        .clk(clk), .rst_n(rst_n), .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data),
        .out_valid(out_valid), .out_ready(out_ready), .fire(fire), .sf(sf), .nf(nf),
        .tile_addr(x_addr), .nf_addr(t_addr), .x(x));

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
    wire [PE*SIMD*TAU-1:0] x_q;
    bnnc_rom #(.WIDTH(PE*SIMD*TAU), .DEPTH(TILES), .FILE(X_FILE), .BRAM(X_BRAM)) u_x (
        .clk(clk), .addr(x_addr), .q(x_q));

    // ---- reuse: popcount of every channel against every codeword, shared by all PEs
    // verilator lint_off UNUSEDSIGNAL
    wire [PCW-1:0] shared [0:SIMD*WORDS-1];  // unused in decode mode (REUSE == 0)
    // verilator lint_on UNUSEDSIGNAL
    genvar i, k, p;
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

    wire [PE*CW-1:0] contribs;
    generate
        for (p = 0; p < PE; p = p + 1) begin : g_pe
            wire [SPW-1:0] pc;
            if (REUSE != 0) begin : g_reuse_pe
                wire [PCW-1:0] pcs [0:SIMD-1];
                for (i = 0; i < SIMD; i = i + 1) begin : g_ch
                    wire [TAU-1:0] idx = x_q[(p*SIMD + i)*TAU +: TAU];
                    // verilator lint_off UNUSEDSIGNAL
                    wire [31:0] sel = i * WORDS + {{(32-TAU){1'b0}}, idx};
                    // verilator lint_on UNUSEDSIGNAL
                    assign pcs[i] = shared[sel[$clog2(SIMD*WORDS)-1:0]];
                end
                reg [SPW-1:0] tot;
                integer j;
                always @(*) begin
                    tot = {SPW{1'b0}};
                    for (j = 0; j < SIMD; j = j + 1) tot = tot + {{(SPW-PCW){1'b0}}, pcs[j]};
                end
                assign pc = tot;
            end else begin : g_decode_pe
                // each (channel, tap): codeword bit (a function of the index) XNOR input bit,
                // then one popcount of all SIMD*T agreeing bits, as bnnc_matvec's
                wire [DATA_W-1:0] agree;
                for (i = 0; i < SIMD; i = i + 1) begin : g_ch
                    wire [TAU-1:0] idx = x_q[(p*SIMD + i)*TAU +: TAU];
                    assign agree[i*T +: T] = ~(book[idx] ^ x[i*T +: T]) & valid;
                end
                bnnc_popcount #(.N(DATA_W), .W(SPW)) u_pc (.bits(agree), .count(pc));
            end
            wire signed [CW-1:0] dot = $signed({1'b0, pc, 1'b0}) - $signed({2'b00, nvs[SPW-1:0]});
            wire signed [CW-1:0] contrib = (DOMAIN == 0) ? $signed({2'b00, pc}) : dot;
            assign contribs[p*CW +: CW] = contrib;
        end
    endgenerate

    // ---- accumulators and output word (thresholds read one cycle ahead at t_addr)
    bnnc_matvec_acc #(.PE(PE), .NF(NF), .CW(CW), .ACC_BITS(ACC_BITS), .OUT_BITS(OUT_BITS),
                      .THRESH(THRESH), .T_FILE(T_FILE), .I_FILE(I_FILE), .T_BRAM(T_BRAM)) u_acc (
        .clk(clk), .fire(fire), .first(sf == 0), .t_addr(t_addr), .contrib(contribs),
        .out_data(out_data));
endmodule
