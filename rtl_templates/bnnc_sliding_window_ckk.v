// bnnc_sliding_window_ckk -- channel-major sliding window for codebook kernels.
//
//   bnnc_sliding_window_ckk #(.C, .H, .W, .K, .S, .P, .SIMD, .EBITS, .OH, .OW, .MASKED,
//                             .PAD_ELEM) u (clk, rst_n, in_*, out_*);
//
// Stream format: identical to bnnc::sliding_window_ckk (bnnc_sliding_window.h). Input per
// frame H*W*(C/SIMD) words (y, x, cb); output per frame OH*OW*(C/SIMD) words (oy, ox, cb),
// each with all K*K taps of SIMD channels: element (i, t = ky*K + kx) at bits
// (i*K*K + t)*EBITS; with MASKED, bit SIMD*K*K*EBITS + t is tap t's valid bit (a padded
// tap then holds 0), without, a padded tap holds PAD_ELEM. Requires P < K and S <= K.
//
// Cycle behaviour: the read side is bnnc_sliding_window's (a line buffer of NR = K+S rows;
// in_ready iff the next word's row g < top + NR). Word (oy, ox, cb) is emitted (out_valid)
// iff its last input word -- the bottom-right tap in_img the image,
// (min(oy*S-P+K-1, H-1), min(ox*S-P+K-1, W-1), cb) -- was read in an earlier cycle. Both
// use only the state at the start of the cycle. The line buffer is NR*K banks (row slot,
// column mod K), each with one write and one read port, so the K*K taps of a word are
// read from K*K distinct banks in one cycle.
module bnnc_sliding_window_ckk #(
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
    input  wire                                   clk,
    input  wire                                   rst_n,
    input  wire                                   in_valid,
    output wire                                   in_ready,
    input  wire [SIMD*EBITS-1:0]                  in_data,
    output wire                                   out_valid,
    input  wire                                   out_ready,
    output wire [SIMD*K*K*EBITS+MASKED*K*K-1:0]   out_data
);
    localparam integer CB = C / SIMD;
    localparam integer ROW = W * CB;
    localparam integer NR = K + S;
    localparam integer KK = K * K;
    localparam integer IN_W = SIMD * EBITS;
    localparam integer DATA_W = SIMD * KK * EBITS;
    localparam integer WB = (W + K - 1) / K;          // columns per bank
    localparam integer DEPTH = WB * CB;               // words per bank
    localparam integer AW = (DEPTH > 1) ? $clog2(DEPTH) : 1;  // bank address bits
    localparam integer TOP_SLOT0 = (NR - P % NR) % NR;
    localparam integer FRAME_DELTA = H - (OH - 1) * S;
    localparam integer FRAME_STEP = ((FRAME_DELTA % NR) + NR) % NR;
    localparam integer LM0 = (K - P) % K;             // (-P + K) mod K
    localparam integer LQ0 = (K - P) / K;             // (-P + K) div K

    // ---- read side: next word (r_g, r_col) = column r_xq*K + r_xk, channel block r_cb
    reg [31:0] r_g, r_col, w_slot, r_cb, r_xk, r_xq;
    // ---- emit side: next word (oy, ox, cb); o_left + K = lq*K + lm
    reg [31:0] o_base, ox, oy, cb, top_slot, lq, lm;
    reg signed [31:0] o_top, o_left;

    wire signed [31:0] y_far = o_top + K - 1;
    wire signed [31:0] x_far = o_left + K - 1;
    wire signed [31:0] y_last = (y_far < H - 1) ? y_far : H - 1;
    wire signed [31:0] x_last = (x_far < W - 1) ? x_far : W - 1;
    wire [31:0] tg = o_base + y_last;
    wire [31:0] tcol = x_last * CB + cb;
    wire signed [31:0] lead = $signed(r_g - tg);
    wire have = (lead > 0) || (lead == 0 && r_col > tcol);
    wire [31:0] top_needed = o_base + ((o_top > 0) ? o_top : 0);
    wire signed [31:0] ahead = $signed(r_g - top_needed);
    wire room = ahead < NR;

    assign in_ready = room;
    assign out_valid = have;
    wire do_read = room && in_valid;
    wire do_emit = have && out_ready;

    // ---- banks: bank s*K + m holds row slot s, columns x with x mod K == m
    wire [IN_W-1:0] rdata [0:NR*K-1];
    genvar s, m, t, i;
    generate
        for (m = 0; m < K; m = m + 1) begin : g_col
            // the tap in column residue m has column quotient lq - 1 + (m < lm)
            // verilator lint_off UNUSEDSIGNAL
            wire [31:0] q = lq - 1 + ((m < lm) ? 1 : 0);
            wire [31:0] raddr = q * CB + cb;
            // verilator lint_on UNUSEDSIGNAL
            for (s = 0; s < NR; s = s + 1) begin : g_bank
                reg [IN_W-1:0] mem [0:DEPTH-1];
                // verilator lint_off UNUSEDSIGNAL
                wire [31:0] waddr = r_xq * CB + r_cb;
                // verilator lint_on UNUSEDSIGNAL
                always @(posedge clk) begin
                    if (do_read && w_slot == s && r_xk == m) mem[waddr[AW-1:0]] <= in_data;
                end
                assign rdata[s*K + m] = mem[raddr[AW-1:0]];
            end
        end
    endgenerate

    // ---- the output word: tap (ky, kx) reads bank ((top_slot+ky) mod NR, (lm+kx) mod K)
    wire [IN_W-1:0] pad_word;
    generate
        for (i = 0; i < SIMD; i = i + 1) begin : g_pad
            localparam [EBITS-1:0] PE_BITS = PAD_ELEM[EBITS-1:0];
            assign pad_word[i*EBITS +: EBITS] = (MASKED != 0) ? {EBITS{1'b0}} : PE_BITS;
        end
        for (t = 0; t < KK; t = t + 1) begin : g_tap
            localparam integer KY = t / K;
            localparam integer KX = t % K;
            wire [31:0] ssum = top_slot + KY;
            wire [31:0] slot = (ssum >= NR) ? ssum - NR : ssum;
            wire [31:0] msum = lm + KX;
            wire [31:0] mcol = (msum >= K) ? msum - K : msum;
            wire signed [31:0] ty = o_top + KY;
            wire signed [31:0] tx = o_left + KX;
            wire in_img = (ty >= 0) && (ty < H) && (tx >= 0) && (tx < W);
            // verilator lint_off UNUSEDSIGNAL
            wire [31:0] bsel = slot * K + mcol;
            // verilator lint_on UNUSEDSIGNAL
            wire [IN_W-1:0] d = in_img ? rdata[bsel[$clog2(NR*K+1)-1:0]] : pad_word;
            for (i = 0; i < SIMD; i = i + 1) begin : g_ch
                assign out_data[(i*KK + t)*EBITS +: EBITS] = d[i*EBITS +: EBITS];
            end
            if (MASKED != 0) begin : g_valid
                assign out_data[DATA_W + t] = in_img;
            end
        end
    endgenerate

    always @(posedge clk) begin
        if (!rst_n) begin
            r_g <= 0;
            r_col <= 0;
            w_slot <= 0;
            r_cb <= 0;
            r_xk <= 0;
            r_xq <= 0;
        end else if (do_read) begin
            if (r_col == ROW - 1) begin
                r_col <= 0;
                r_cb <= 0;
                r_xk <= 0;
                r_xq <= 0;
                r_g <= r_g + 1;
                w_slot <= (w_slot == NR - 1) ? 0 : w_slot + 1;
            end else begin
                r_col <= r_col + 1;
                if (r_cb == CB - 1) begin
                    r_cb <= 0;
                    if (r_xk == K - 1) begin
                        r_xk <= 0;
                        r_xq <= r_xq + 1;
                    end else begin
                        r_xk <= r_xk + 1;
                    end
                end else begin
                    r_cb <= r_cb + 1;
                end
            end
        end
    end

    wire end_cb = cb == CB - 1;
    wire end_ox = end_cb && ox == OW - 1;
    wire end_oy = end_ox && oy == OH - 1;
    wire [31:0] step = end_oy ? FRAME_STEP : S;
    wire [31:0] top_next = top_slot + step;
    wire [31:0] lm_next = lm + S;                     // S <= K: one correction at most

    always @(posedge clk) begin
        if (!rst_n) begin
            o_base <= 0;
            ox <= 0;
            oy <= 0;
            cb <= 0;
            o_top <= -P;
            o_left <= -P;
            top_slot <= TOP_SLOT0;
            lq <= LQ0;
            lm <= LM0;
        end else if (do_emit) begin
            cb <= end_cb ? 0 : cb + 1;
            if (end_cb) begin
                ox <= end_ox ? 0 : ox + 1;
                o_left <= end_ox ? -P : o_left + S;
                if (end_ox) begin
                    lq <= LQ0;
                    lm <= LM0;
                end else if (lm_next >= K) begin
                    lq <= lq + 1;
                    lm <= lm_next - K;
                end else begin
                    lm <= lm_next;
                end
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
