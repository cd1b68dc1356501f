// bnnc_sliding_window -- sliding-window generator (the im2col stream of a conv).
//
//   bnnc_sliding_window #(.C, .H, .W, .K, .S, .P, .SIMD, .EBITS, .OH, .OW, .MASKED,
//                         .PAD_ELEM) u (clk, rst_n, in_*, out_*);
//
// Stream format: identical to bnnc_sliding_window.h. Input per frame H*W*(C/SIMD) words
// (y, x, cb) of SIMD elements of EBITS bits; output per frame OH*OW*K*K*(C/SIMD) words
// in the order (oy, ox, ky, kx, cb); tap (ky, kx) of window (oy, ox) is input pixel
// (oy*S-P+ky, ox*S-P+kx). A tap outside the image is, with MASKED, data 0 and valid
// bit (bit SIMD*EBITS) 0, without, SIMD copies of PAD_ELEM; a real tap has valid bit 1
// when MASKED. Trailing rows/columns no window reaches are read and dropped.
//
// Cycle behaviour: the read side and the emit side are two independent processes
// sharing a line buffer of NR = K+S rows of W*(C/SIMD) words (input row g in slot
// g mod NR, rows counted continuously over frames). In each cycle:
//   * read:  in_ready = 1 iff row g of the next input word satisfies g < top + NR, where
//            top is the (clamped) first image row of the window of the next tap to emit;
//   * emit:  out_valid = 1 iff the next tap is padding or its input word was read in an
//            earlier cycle.
// Both use only the state at the start of the cycle (no combinational path between the
// input and output handshakes); the two sides overlap frames freely.
module bnnc_sliding_window #(
    parameter integer C = 4,
    parameter integer H = 4,
    parameter integer W = 4,
    parameter integer K = 3,
    parameter integer S = 1,
    parameter integer P = 0,
    parameter integer SIMD = 4,
    parameter integer EBITS = 1,
    parameter integer OH = 2,
    parameter integer OW = 2,
    parameter integer MASKED = 0,
    parameter integer PAD_ELEM = 0
) (
    input  wire                          clk,
    input  wire                          rst_n,
    input  wire                          in_valid,
    output wire                          in_ready,
    input  wire [SIMD*EBITS-1:0]         in_data,
    output wire                          out_valid,
    input  wire                          out_ready,
    output wire [SIMD*EBITS+MASKED-1:0]  out_data
);
    localparam integer CB = C / SIMD;
    localparam integer ROW = W * CB;
    localparam integer NR = K + S;
    localparam integer IN_W = SIMD * EBITS;
    localparam integer TOP_SLOT0 = (NR - P % NR) % NR;
    localparam integer FRAME_DELTA = H - (OH - 1) * S;
    localparam integer FRAME_STEP = ((FRAME_DELTA % NR) + NR) % NR;

    reg [IN_W-1:0] buffer [0:NR*ROW-1];

    // ---- read side: next word is (r_g, r_col); r_g counts rows over frames (wraps)
    reg [31:0] r_g, r_col, w_slot;
    // ---- emit side: next tap (oy, ox, ky, kx, cb) of the frame whose row 0 is o_base
    reg [31:0] o_base, ox, oy, ky, kx, cb, top_slot;
    reg signed [31:0] o_top, o_left;

    wire signed [31:0] ty = o_top + $signed(ky);
    wire signed [31:0] tx = o_left + $signed(kx);
    wire in_img = (ty >= 0) && (ty < H) && (tx >= 0) && (tx < W);
    wire [31:0] tg = o_base + ty;                   // batch row of the tap
    wire [31:0] tcol = tx * CB + cb;                // word within the row
    wire signed [31:0] lead = $signed(r_g - tg);    // rows read past the tap's row
    wire have = (lead > 0) || (lead == 0 && r_col > tcol);
    wire [31:0] top_needed = o_base + ((o_top > 0) ? o_top : 0);
    wire signed [31:0] ahead = $signed(r_g - top_needed);
    wire room = ahead < NR;

    wire emit = (!in_img || have);
    wire take = room;
    assign in_ready = take;
    assign out_valid = emit;

    wire [31:0] slot_sum = top_slot + ky;
    wire [31:0] tap_slot = (slot_sum >= NR) ? slot_sum - NR : slot_sum;
    // verilator lint_off UNUSEDSIGNAL
    wire [31:0] rd_addr = tap_slot * ROW + tcol;   // only the low bits address the buffer
    wire [31:0] wr_addr = w_slot * ROW + r_col;
    // verilator lint_on UNUSEDSIGNAL
    wire [IN_W-1:0] tap_word = buffer[rd_addr];
    wire [IN_W-1:0] pad_word;
    genvar i;
    generate
        for (i = 0; i < SIMD; i = i + 1) begin : g_pad
            localparam [EBITS-1:0] PE_BITS = PAD_ELEM[EBITS-1:0];
            assign pad_word[i*EBITS +: EBITS] = (MASKED != 0) ? {EBITS{1'b0}} : PE_BITS;
        end
        if (MASKED != 0) begin : g_masked
            assign out_data = in_img ? {1'b1, tap_word} : {1'b0, pad_word};
        end else begin : g_plain
            assign out_data = in_img ? tap_word : pad_word;
        end
    endgenerate

    wire do_read = take && in_valid;
    wire do_emit = emit && out_ready;

    always @(posedge clk) begin
        if (do_read) buffer[wr_addr] <= in_data;
    end

    always @(posedge clk) begin
        if (!rst_n) begin
            r_g <= 0;
            r_col <= 0;
            w_slot <= 0;
        end else if (do_read) begin
            if (r_col == ROW - 1) begin
                r_col <= 0;
                r_g <= r_g + 1;
                w_slot <= (w_slot == NR - 1) ? 0 : w_slot + 1;
            end else begin
                r_col <= r_col + 1;
            end
        end
    end

    wire end_cb = cb == CB - 1;
    wire end_kx = end_cb && kx == K - 1;
    wire end_ky = end_kx && ky == K - 1;
    wire end_ox = end_ky && ox == OW - 1;
    wire end_oy = end_ox && oy == OH - 1;
    wire [31:0] step = end_oy ? FRAME_STEP : S;
    wire [31:0] top_next = top_slot + step;

    always @(posedge clk) begin
        if (!rst_n) begin
            o_base <= 0;
            ox <= 0;
            oy <= 0;
            ky <= 0;
            kx <= 0;
            cb <= 0;
            o_top <= -P;
            o_left <= -P;
            top_slot <= TOP_SLOT0;
        end else if (do_emit) begin
            cb <= end_cb ? 0 : cb + 1;
            if (end_cb) kx <= end_kx ? 0 : kx + 1;
            if (end_kx) ky <= end_ky ? 0 : ky + 1;
            if (end_ky) begin
                ox <= end_ox ? 0 : ox + 1;
                o_left <= end_ox ? -P : o_left + S;
            end
            if (end_ox) begin
                top_slot <= (top_next >= NR) ? top_next - NR : top_next;
                oy <= end_oy ? 0 : oy + 1;
                o_top <= end_oy ? -P : o_top + S;
            end
            if (end_oy) o_base <= o_base + H;
        end
    end
endmodule
