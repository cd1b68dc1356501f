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
// use only the state at the start of the cycle.
//
// Line buffer: K banks, bank m holding the columns x with x mod K == m of all NR row
// slots, each with K asynchronous read ports (one per window row ky, the row slot in the
// high address bits: the row rotation is done on addresses, not data), so that tap
// (ky, kx) only selects among the K banks: a K:1 multiplexer per bit. When a bank's K
// ports would be deeper than 64 words (LUT-RAM gets costly per port), the line buffer is
// NR*K banks of one slot each and a row slot is selected first (NR:1), then a column.
// Counters are as wide as their ranges (rows are counted over frames modulo 2^GW).
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
    localparam integer NR = K + S;
    localparam integer KK = K * K;
    localparam integer IN_W = SIMD * EBITS;
    localparam integer DATA_W = SIMD * KK * EBITS;
    localparam integer WB = (W + K - 1) / K;          // columns per bank and row slot
    localparam integer D = WB * CB;                   // words per bank and row slot
    localparam integer LW = (D > 1) ? $clog2(D) : 1;  // word within a row slot
    localparam integer SW = $clog2(NR);               // row slot (NR >= 2)
    localparam integer ROTATE = ((NR << LW) <= 64) ? 1 : 0;  // rotate read addresses
    localparam integer CBW = (CB > 1) ? $clog2(CB) : 1;
    localparam integer MW = (K > 1) ? $clog2(K) : 1;
    localparam integer OXW = (OW > 1) ? $clog2(OW) : 1;
    localparam integer OYW = (OH > 1) ? $clog2(OH) : 1;
    // rows are counted over frames modulo 2^GW: every row difference compared below lies
    // in [-(H + K), NR], and the window's top row in [-P, H]
    localparam integer GW = $clog2(H + 2 * K + 2 * S + 2) + 2;
    localparam integer XW = $clog2(W + 2 * K + 2 * S + 2) + 2;   // signed columns
    localparam integer TOP_SLOT0 = (NR - P % NR) % NR;
    localparam integer FRAME_DELTA = H - (OH - 1) * S;
    localparam integer FRAME_STEP = ((FRAME_DELTA % NR) + NR) % NR;
    localparam integer LM0 = (K - P) % K;             // (-P + K) mod K
    localparam integer LQ0 = (K - P) / K;             // (-P + K) div K
    // the constants at the widths they are compared with / added to
    // verilator lint_off WIDTHTRUNC
    localparam [CBW-1:0] CB_LAST = CB - 1;
    localparam [LW-1:0] CB_L = CB;
    localparam [LW-1:0] CB_LAST_L = CB - 1;
    localparam [LW-1:0] LQ0_CB = LQ0 * CB;
    localparam [MW-1:0] K_LAST = K - 1;
    localparam [MW-1:0] LM0_M = LM0;
    localparam [MW:0] K_M = K;
    localparam [MW:0] S_M = S;
    localparam [SW-1:0] NR_LAST = NR - 1;
    localparam [SW-1:0] TOP_SLOT0_S = TOP_SLOT0;
    localparam [SW:0] NR_S = NR;
    localparam [SW:0] S_S = S;
    localparam [SW:0] FSTEP_S = FRAME_STEP;
    localparam [OXW-1:0] OW_LAST = OW - 1;
    localparam [OYW-1:0] OH_LAST = OH - 1;
    localparam [GW-1:0] H_G = H;
    localparam signed [GW-1:0] NR_G = NR;
    localparam signed [GW-1:0] KM1_G = K - 1;
    localparam signed [GW-1:0] HM1_G = H - 1;
    localparam signed [GW-1:0] S_G = S;
    localparam signed [GW-1:0] NP_G = -P;
    localparam signed [XW-1:0] KM1_X = K - 1;
    localparam signed [XW-1:0] WM1_X = W - 1;
    localparam signed [XW-1:0] S_X = S;
    localparam signed [XW-1:0] NP_X = -P;
    // verilator lint_on WIDTHTRUNC

    // ---- read side: next word is (row r_g, column r_x, block r_cb), written to bank r_xk
    // at word w_word (= (r_x div K) * CB + r_cb) of row slot w_slot
    reg [GW-1:0] r_g;
    reg signed [XW-1:0] r_x;
    reg [CBW-1:0] r_cb;
    reg [MW-1:0] r_xk;
    reg [LW-1:0] w_word;
    reg [SW-1:0] w_slot;
    // ---- emit side: next word (oy, ox, cb) of the frame whose row 0 is o_base; window top
    // row o_top, left column o_left; o_left + K = lq*K + lm, e_word = lq*CB + cb (mod 2^LW)
    reg [GW-1:0] o_base;
    reg [OXW-1:0] ox;
    reg [OYW-1:0] oy;
    reg [CBW-1:0] cb;
    reg signed [GW-1:0] o_top;
    reg signed [XW-1:0] o_left;
    reg [SW-1:0] top_slot;
    reg [MW-1:0] lm;
    reg [LW-1:0] e_word;

    wire signed [GW-1:0] y_far = o_top + KM1_G;
    wire signed [XW-1:0] x_far = o_left + KM1_X;
    wire signed [GW-1:0] y_last = (y_far < HM1_G) ? y_far : HM1_G;   // >= 0 (P < K)
    wire signed [XW-1:0] x_last = (x_far < WM1_X) ? x_far : WM1_X;
    wire [GW-1:0] tg = o_base + y_last;
    wire signed [GW-1:0] lead = r_g - tg;
    wire have = (lead > 0) ||
                (lead == 0 && (r_x > x_last || (r_x == x_last && r_cb > cb)));
    wire [GW-1:0] top_needed = o_base + ((o_top > 0) ? o_top : {GW{1'b0}});
    wire signed [GW-1:0] ahead = r_g - top_needed;
    wire room = ahead < NR_G;

    assign in_ready = room;
    assign out_valid = have;
    wire do_read = room && in_valid;
    wire do_emit = have && out_ready;

    // ---- line buffer: rdata[ky*K + m] = the word of bank column m in window row ky
    wire [K*K*IN_W-1:0] rdata;
    genvar s, m, t, i;
    generate
        for (m = 0; m < K; m = m + 1) begin : g_col
            // verilator lint_off WIDTHTRUNC
            localparam [MW-1:0] M_M = m;
            // verilator lint_on WIDTHTRUNC
            // the tap in column residue m has column quotient lq - 1 + (m < lm)
            // verilator lint_off CMPCONST
            wire [LW-1:0] loc = (M_M < lm) ? e_word : e_word - CB_L;
            // verilator lint_on CMPCONST
            wire wr = do_read && r_xk == M_M;
            if (ROTATE != 0) begin : g_rot
                reg [IN_W-1:0] mem [0:(NR << LW)-1];
                always @(posedge clk) begin
                    if (wr) mem[{w_slot, w_word}] <= in_data;
                end
                for (s = 0; s < K; s = s + 1) begin : g_port
                    // verilator lint_off WIDTHTRUNC
                    localparam [SW:0] KY_S = s;
                    // verilator lint_on WIDTHTRUNC
                    wire [SW:0] ssum = {1'b0, top_slot} + KY_S;
                    // verilator lint_off UNUSEDSIGNAL
                    wire [SW:0] slot = (ssum >= NR_S) ? ssum - NR_S : ssum;
                    // verilator lint_on UNUSEDSIGNAL
                    assign rdata[(s*K + m)*IN_W +: IN_W] = mem[{slot[SW-1:0], loc}];
                end
            end else begin : g_slots
                wire [NR*IN_W-1:0] sdata;
                for (s = 0; s < NR; s = s + 1) begin : g_bank
                    // verilator lint_off WIDTHTRUNC
                    localparam [SW-1:0] S_W = s;
                    // verilator lint_on WIDTHTRUNC
                    reg [IN_W-1:0] mem [0:D-1];
                    always @(posedge clk) begin
                        if (wr && w_slot == S_W) mem[w_word] <= in_data;
                    end
                    assign sdata[s*IN_W +: IN_W] = mem[loc];
                end
                for (s = 0; s < K; s = s + 1) begin : g_port
                    // verilator lint_off WIDTHTRUNC
                    localparam [SW:0] KY_S = s;
                    // verilator lint_on WIDTHTRUNC
                    wire [SW:0] ssum = {1'b0, top_slot} + KY_S;
                    // verilator lint_off UNUSEDSIGNAL
                    wire [SW:0] slot = (ssum >= NR_S) ? ssum - NR_S : ssum;
                    // verilator lint_on UNUSEDSIGNAL
                    assign rdata[(s*K + m)*IN_W +: IN_W] = sdata[slot[SW-1:0]*IN_W +: IN_W];
                end
            end
        end
    endgenerate

    // ---- the output word: tap (ky, kx) is window row ky of bank column (lm + kx) mod K
    wire [IN_W-1:0] pad_word;
    generate
        for (i = 0; i < SIMD; i = i + 1) begin : g_pad
            localparam [EBITS-1:0] PE_BITS = PAD_ELEM[EBITS-1:0];
            assign pad_word[i*EBITS +: EBITS] = (MASKED != 0) ? {EBITS{1'b0}} : PE_BITS;
        end
        for (t = 0; t < KK; t = t + 1) begin : g_tap
            localparam integer KY = t / K;
            localparam integer KX = t % K;
            // verilator lint_off WIDTHTRUNC
            localparam [MW:0] KX_M = KX;
            localparam signed [GW-1:0] KY_G = KY;
            localparam signed [GW-1:0] H_GS = H;
            localparam signed [XW-1:0] KX_X = KX;
            localparam signed [XW-1:0] W_X = W;
            // verilator lint_on WIDTHTRUNC
            wire [MW:0] msum = {1'b0, lm} + KX_M;
            // verilator lint_off UNUSEDSIGNAL
            wire [MW:0] mcol = (msum >= K_M) ? msum - K_M : msum;
            // verilator lint_on UNUSEDSIGNAL
            wire in_img;
            if (P == 0) begin : g_inside
                assign in_img = 1'b1;                 // no window reaches outside the image
            end else begin : g_edge
                wire signed [GW-1:0] ty = o_top + KY_G;
                wire signed [XW-1:0] tx = o_left + KX_X;
                assign in_img = (ty >= 0) && (ty < H_GS) && (tx >= 0) && (tx < W_X);
            end
            reg [IN_W-1:0] d;
            integer j;
            always @(*) begin
                d = rdata[(KY*K)*IN_W +: IN_W];
                for (j = 1; j < K; j = j + 1) begin
                    if ({{(32 - MW){1'b0}}, mcol[MW-1:0]} == j) d = rdata[(KY*K + j)*IN_W +: IN_W];
                end
            end
            for (i = 0; i < SIMD; i = i + 1) begin : g_ch
                assign out_data[(i*KK + t)*EBITS +: EBITS] =
                    in_img ? d[i*EBITS +: EBITS] : pad_word[i*EBITS +: EBITS];
            end
            if (MASKED != 0) begin : g_valid
                assign out_data[DATA_W + t] = in_img;
            end
        end
    endgenerate

    // ---- read side
    wire r_end_cb = r_cb == CB_LAST;
    wire r_end_row = r_end_cb && r_x == WM1_X;
    always @(posedge clk) begin
        if (!rst_n) begin
            r_g <= {GW{1'b0}};
            r_x <= {XW{1'b0}};
            r_cb <= {CBW{1'b0}};
            r_xk <= {MW{1'b0}};
            w_word <= {LW{1'b0}};
            w_slot <= {SW{1'b0}};
        end else if (do_read) begin
            if (r_end_row) begin
                r_x <= {XW{1'b0}};
                r_cb <= {CBW{1'b0}};
                r_xk <= {MW{1'b0}};
                w_word <= {LW{1'b0}};
                r_g <= r_g + 1'b1;
                w_slot <= (w_slot == NR_LAST) ? {SW{1'b0}} : w_slot + 1'b1;
            end else if (r_end_cb) begin
                r_cb <= {CBW{1'b0}};
                r_x <= r_x + 1'b1;
                if (r_xk == K_LAST) begin
                    r_xk <= {MW{1'b0}};
                    w_word <= w_word + 1'b1;
                end else begin
                    r_xk <= r_xk + 1'b1;
                    w_word <= w_word - CB_LAST_L;
                end
            end else begin
                r_cb <= r_cb + 1'b1;
                w_word <= w_word + 1'b1;
            end
        end
    end

    // ---- emit side
    wire end_cb = cb == CB_LAST;
    wire end_ox = end_cb && ox == OW_LAST;
    wire end_oy = end_ox && oy == OH_LAST;
    wire [SW:0] top_next = {1'b0, top_slot} + (end_oy ? FSTEP_S : S_S);
    // verilator lint_off UNUSEDSIGNAL
    wire [SW:0] top_wrap = (top_next >= NR_S) ? top_next - NR_S : top_next;
    wire [MW:0] lm_next = {1'b0, lm} + S_M;           // S <= K: one correction at most
    wire [MW:0] lm_wrap = lm_next - K_M;
    // verilator lint_on UNUSEDSIGNAL

    always @(posedge clk) begin
        if (!rst_n) begin
            o_base <= {GW{1'b0}};
            ox <= {OXW{1'b0}};
            oy <= {OYW{1'b0}};
            cb <= {CBW{1'b0}};
            o_top <= NP_G;
            o_left <= NP_X;
            top_slot <= TOP_SLOT0_S;
            lm <= LM0_M;
            e_word <= LQ0_CB;
        end else if (do_emit) begin
            cb <= end_cb ? {CBW{1'b0}} : cb + 1'b1;
            if (!end_cb) begin
                e_word <= e_word + 1'b1;
            end else begin
                ox <= end_ox ? {OXW{1'b0}} : ox + 1'b1;
                o_left <= end_ox ? NP_X : o_left + S_X;
                if (end_ox) begin
                    lm <= LM0_M;
                    e_word <= LQ0_CB;
                end else if (lm_next >= K_M) begin
                    lm <= lm_wrap[MW-1:0];
                    e_word <= e_word + 1'b1;
                end else begin
                    lm <= lm_next[MW-1:0];
                    e_word <= e_word - CB_LAST_L;
                end
            end
            if (end_ox) begin
                top_slot <= top_wrap[SW-1:0];
                oy <= end_oy ? {OYW{1'b0}} : oy + 1'b1;
                o_top <= end_oy ? NP_G : o_top + S_G;
            end
            if (end_oy) o_base <= o_base + H_G;
        end
    end
endmodule
