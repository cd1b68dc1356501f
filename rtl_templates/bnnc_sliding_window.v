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
//
// The line buffer is one LUT-RAM (asynchronous read) addressed slot*ROW + word; the row
// bases of the write slot, the window top and the current tap are registers, and every
// counter is as wide as its range (rows are counted over frames modulo 2^GW).
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
    localparam integer DEPTH = NR * ROW;
    localparam integer AW = $clog2(DEPTH);            // NR >= 2
    localparam integer CW = (ROW > 1) ? $clog2(ROW) : 1;
    localparam integer CBW = (CB > 1) ? $clog2(CB) : 1;
    localparam integer MW = (K > 1) ? $clog2(K) : 1;
    localparam integer OXW = (OW > 1) ? $clog2(OW) : 1;
    localparam integer OYW = (OH > 1) ? $clog2(OH) : 1;
    // rows are counted over frames modulo 2^GW: every row difference compared below lies
    // in [-(H + K), NR], and a tap's row in [-P, H + K]
    localparam integer GW = $clog2(H + 2 * K + 2 * S + 2) + 2;
    // signed column words: a tap's column times CB plus its block, in [-P*CB, ROW + K*CB]
    localparam integer XW = $clog2(ROW + (2 * K + 2 * S + 2) * CB) + 2;
    localparam integer TOP_SLOT0 = (NR - P % NR) % NR;
    localparam integer FRAME_DELTA = H - (OH - 1) * S;
    localparam integer FRAME_STEP = ((FRAME_DELTA % NR) + NR) % NR;
    // the constants at the widths they are compared with / added to
    // verilator lint_off WIDTHTRUNC
    localparam [CW-1:0] ROW_LAST = ROW - 1;
    localparam [CBW-1:0] CB_LAST = CB - 1;
    localparam [MW-1:0] K_LAST = K - 1;
    localparam [OXW-1:0] OW_LAST = OW - 1;
    localparam [OYW-1:0] OH_LAST = OH - 1;
    localparam [AW:0] ROW_A = ROW;
    localparam [AW:0] DEPTH_A = DEPTH;
    localparam [AW-1:0] LAST_BASE = (NR - 1) * ROW;
    localparam [AW-1:0] TOP_BASE0 = TOP_SLOT0 * ROW;
    localparam [AW:0] S_ROW = S * ROW;
    localparam [AW:0] FSTEP_ROW = FRAME_STEP * ROW;
    localparam [GW-1:0] H_G = H;
    localparam signed [GW-1:0] NR_G = NR;
    localparam signed [GW-1:0] H_GS = H;
    localparam signed [GW-1:0] S_G = S;
    localparam signed [GW-1:0] NP_G = -P;
    localparam signed [XW-1:0] W_X = W;
    localparam signed [XW-1:0] CB_X = CB;
    localparam signed [XW-1:0] S_X = S;
    localparam signed [XW-1:0] NP_X = -P;
    // verilator lint_on WIDTHTRUNC

    reg [IN_W-1:0] buffer [0:DEPTH-1];

    // ---- read side: next word is (r_g, r_col), at w_base + r_col (w_base = slot * ROW)
    reg [GW-1:0] r_g;
    reg [CW-1:0] r_col;
    reg [AW-1:0] w_base;
    // ---- emit side: next tap (oy, ox, ky, kx, cb) of the frame whose row 0 is o_base;
    // window top o_top, tap row t_y = o_top + ky, tap column t_x = o_left + kx; row slot
    // bases top_base (the window top's) and tap_base (the tap's)
    reg [GW-1:0] o_base;
    reg [OXW-1:0] ox;
    reg [OYW-1:0] oy;
    reg [MW-1:0] ky, kx;
    reg [CBW-1:0] cb;
    reg signed [GW-1:0] o_top, t_y;
    reg signed [XW-1:0] o_left, t_x;
    reg [AW-1:0] top_base, tap_base;

    wire in_img;
    generate
        if (P == 0) begin : g_inside
            assign in_img = 1'b1;                     // no window reaches outside the image
        end else begin : g_edge
            assign in_img = (t_y >= 0) && (t_y < H_GS) && (t_x >= 0) && (t_x < W_X);
        end
    endgenerate
    wire [GW-1:0] tg = o_base + t_y;                  // batch row of the tap
    wire signed [XW-1:0] tcol = t_x * CB_X + {{(XW - CBW){1'b0}}, cb};   // word within the row
    wire signed [GW-1:0] lead = r_g - tg;             // rows read past the tap's row
    wire have = (lead > 0) || (lead == 0 && $signed({{(XW - CW){1'b0}}, r_col}) > tcol);
    wire [GW-1:0] top_needed = o_base + ((o_top > 0) ? o_top : {GW{1'b0}});
    wire signed [GW-1:0] ahead = r_g - top_needed;
    wire room = ahead < NR_G;

    wire emit = (!in_img || have);
    wire take = room;
    assign in_ready = take;
    assign out_valid = emit;

    // verilator lint_off UNUSEDSIGNAL
    wire [AW+XW:0] rd_sum = {{(XW + 1){1'b0}}, tap_base} + {{(AW + 1){1'b0}}, tcol};
    wire [AW:0] wr_sum = {1'b0, w_base} + {{(AW + 1 - CW){1'b0}}, r_col};
    // verilator lint_on UNUSEDSIGNAL
    wire [IN_W-1:0] tap_word = buffer[rd_sum[AW-1:0]];   // any word when !in_img
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
        if (do_read) buffer[wr_sum[AW-1:0]] <= in_data;
    end

    always @(posedge clk) begin
        if (!rst_n) begin
            r_g <= {GW{1'b0}};
            r_col <= {CW{1'b0}};
            w_base <= {AW{1'b0}};
        end else if (do_read) begin
            if (r_col == ROW_LAST) begin
                r_col <= {CW{1'b0}};
                r_g <= r_g + 1'b1;
                w_base <= (w_base == LAST_BASE) ? {AW{1'b0}} : wr_sum[AW-1:0] + 1'b1;
            end else begin
                r_col <= r_col + 1'b1;
            end
        end
    end

    wire end_cb = cb == CB_LAST;
    wire end_kx = end_cb && kx == K_LAST;
    wire end_ky = end_kx && ky == K_LAST;
    wire end_ox = end_ky && ox == OW_LAST;
    wire end_oy = end_ox && oy == OH_LAST;
    // verilator lint_off UNUSEDSIGNAL
    wire [AW:0] top_sum = {1'b0, top_base} + (end_oy ? FSTEP_ROW : S_ROW);
    wire [AW:0] top_wrap = (top_sum >= DEPTH_A) ? top_sum - DEPTH_A : top_sum;
    wire [AW:0] tap_next = {1'b0, tap_base} + ROW_A;
    // verilator lint_on UNUSEDSIGNAL
    wire signed [GW-1:0] top_new = end_oy ? NP_G : o_top + S_G;
    wire signed [XW-1:0] left_new = end_ox ? NP_X : o_left + S_X;

    always @(posedge clk) begin
        if (!rst_n) begin
            o_base <= {GW{1'b0}};
            ox <= {OXW{1'b0}};
            oy <= {OYW{1'b0}};
            ky <= {MW{1'b0}};
            kx <= {MW{1'b0}};
            cb <= {CBW{1'b0}};
            o_top <= NP_G;
            t_y <= NP_G;
            o_left <= NP_X;
            t_x <= NP_X;
            top_base <= TOP_BASE0;
            tap_base <= TOP_BASE0;
        end else if (do_emit) begin
            cb <= end_cb ? {CBW{1'b0}} : cb + 1'b1;
            if (end_cb) begin
                kx <= end_kx ? {MW{1'b0}} : kx + 1'b1;
                t_x <= end_kx ? (end_ky ? left_new : o_left) : t_x + 1'b1;
            end
            if (end_kx) begin
                ky <= end_ky ? {MW{1'b0}} : ky + 1'b1;
                t_y <= end_ky ? (end_ox ? top_new : o_top) : t_y + 1'b1;
                tap_base <= end_ky ? (end_ox ? top_wrap[AW-1:0] : top_base)
                                   : ((tap_base == LAST_BASE) ? {AW{1'b0}} : tap_next[AW-1:0]);
            end
            if (end_ky) begin
                ox <= end_ox ? {OXW{1'b0}} : ox + 1'b1;
                o_left <= left_new;
            end
            if (end_ox) begin
                top_base <= top_wrap[AW-1:0];
                oy <= end_oy ? {OYW{1'b0}} : oy + 1'b1;
                o_top <= top_new;
            end
            if (end_oy) o_base <= o_base + H_G;
        end
    end
endmodule
