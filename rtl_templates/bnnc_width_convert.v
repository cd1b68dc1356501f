// bnnc_width_convert -- stream width converter (identity on the bit sequence).
//
//   bnnc_width_convert #(.IN_W, .OUT_W, .IN_WORDS, .OUT_WORDS) u (clk, rst_n, in_*, out_*);
//
// Stream format: identical to bnnc_width_convert.h (hls_templates). Per frame IN_WORDS
// words of IN_W bits in, OUT_WORDS words of OUT_W bits out, the same bits LSB first
// (IN_WORDS and OUT_WORDS are the frame's bits over IN_W and OUT_W, rounded up).
//   * IN_W == OUT_W: a copy (pure wires, IN_WORDS == OUT_WORDS);
//   * IN_W = R*OUT_W (down): input word i gives output words R*i .. R*i+R-1, least
//     significant part first; output words past OUT_WORDS are dropped;
//   * OUT_W = R*IN_W (up): R input words fill an output word, the first at the LSB; the
//     frame's last output word is zero-padded.
//
// Cycle behaviour: a static schedule of steps per frame, one step per cycle at most.
// A step fires when its input word is valid (if it reads one) and the output is ready
// (if it writes one); a step that reads and writes passes the word through in the same
// cycle (no register on the data path).
//   down: step i (0 <= i < max(OUT_WORDS, R*(IN_WORDS-1)+1)) reads when i % R == 0 and
//         i/R < IN_WORDS (the latter always holds, as OUT_WORDS <= R*IN_WORDS), writes
//         when i < OUT_WORDS;
//   up:   step i (0 <= i < IN_WORDS) reads; writes when i % R == R-1 or i == IN_WORDS-1;
//   copy: step i reads and writes.
//
// Counters are as wide as their ranges (at least 1 bit); the frame's step counter exists
// only where the frame does not end on a whole input (down) / output (up) word. down
// keeps the parts of the input word not yet written in a register shifted by OUT_W per
// step; up keeps the first R-1 parts of the output word and passes the last one through.
module bnnc_width_convert #(
    parameter integer IN_W = 64,
    parameter integer OUT_W = 8,
    parameter integer IN_WORDS = 1,
    parameter integer OUT_WORDS = 8
) (
    input  wire             clk,
    input  wire             rst_n,
    input  wire             in_valid,
    output wire             in_ready,
    input  wire [IN_W-1:0]  in_data,
    output wire             out_valid,
    input  wire             out_ready,
    output wire [OUT_W-1:0] out_data
);
    generate
        if (IN_W == OUT_W) begin : g_copy
            assign out_valid = in_valid;
            assign in_ready = out_ready;
            assign out_data = in_data;
            // verilator lint_off UNUSEDSIGNAL
            wire unused = clk ^ rst_n;
            // verilator lint_on UNUSEDSIGNAL
        end else if (IN_W > OUT_W) begin : g_down
            localparam integer R = IN_W / OUT_W;
            localparam integer LAST_READ = R * (IN_WORDS - 1) + 1;
            localparam integer STEPS = (OUT_WORDS > LAST_READ) ? OUT_WORDS : LAST_READ;
            localparam integer SUBW = (R > 1) ? $clog2(R) : 1;
            // verilator lint_off WIDTHTRUNC
            localparam [SUBW-1:0] R_LAST = R - 1;
            // verilator lint_on WIDTHTRUNC
            wire fire, wr;
            wire end_frame;              // the frame's last step
            reg [SUBW-1:0] sub;          // step % R
            reg [IN_W-OUT_W-1:0] rest;   // the parts of the input word not yet written
            wire rd = (sub == {SUBW{1'b0}});
            if (OUT_WORDS == R * IN_WORDS) begin : g_whole
                // every step writes and the frame ends with an input word: no step counter
                assign wr = 1'b1;
                assign end_frame = (sub == R_LAST);
            end else begin : g_steps
                localparam integer STW = (STEPS > 1) ? $clog2(STEPS) : 1;
                // verilator lint_off WIDTHTRUNC
                localparam [STW-1:0] STEP_LAST = STEPS - 1;
                localparam [STW:0] OUT_N = OUT_WORDS;
                // verilator lint_on WIDTHTRUNC
                reg [STW-1:0] step;      // step within the frame
                assign wr = (OUT_WORDS >= STEPS) || ({1'b0, step} < OUT_N);
                assign end_frame = (step == STEP_LAST);
                always @(posedge clk) begin
                    if (!rst_n) step <= {STW{1'b0}};
                    else if (fire) step <= end_frame ? {STW{1'b0}} : step + 1'b1;
                end
            end
            wire [IN_W-1:0] cur = rd ? in_data : {{OUT_W{1'b0}}, rest};
            assign fire = (!rd || in_valid) && (!wr || out_ready);
            assign in_ready = rd && (!wr || out_ready);
            assign out_valid = wr && (!rd || in_valid);
            assign out_data = cur[OUT_W-1:0];
            always @(posedge clk) begin
                if (fire) rest <= cur[IN_W-1:OUT_W];
            end
            always @(posedge clk) begin
                if (!rst_n) sub <= {SUBW{1'b0}};
                else if (fire) sub <= (sub == R_LAST || end_frame) ? {SUBW{1'b0}} : sub + 1'b1;
            end
        end else begin : g_up
            localparam integer R = OUT_W / IN_W;
            localparam integer SLW = (R > 1) ? $clog2(R) : 1;
            localparam integer WHOLE = (IN_WORDS % R == 0) ? 1 : 0;  // no zero-padded word
            // verilator lint_off WIDTHTRUNC
            localparam [SLW-1:0] R_LAST = R - 1;
            // verilator lint_on WIDTHTRUNC
            wire fire, wr;
            reg [SLW-1:0] slot;          // step % R
            if (WHOLE != 0) begin : g_whole
                // every output word is written at slot R-1: no step counter
                assign wr = (slot == R_LAST);
                assign out_data[OUT_W-1 -: IN_W] = in_data;
            end else begin : g_steps
                localparam integer STW = (IN_WORDS > 1) ? $clog2(IN_WORDS) : 1;
                // verilator lint_off WIDTHTRUNC
                localparam [STW-1:0] STEP_LAST = IN_WORDS - 1;
                // verilator lint_on WIDTHTRUNC
                reg [STW-1:0] step;      // input word within the frame
                wire last = (step == STEP_LAST);
                assign wr = (slot == R_LAST) || last;
                assign out_data[OUT_W-1 -: IN_W] = (slot == R_LAST) ? in_data : {IN_W{1'b0}};
                always @(posedge clk) begin
                    if (!rst_n) step <= {STW{1'b0}};
                    else if (fire) step <= last ? {STW{1'b0}} : step + 1'b1;
                end
            end
            // parts 0 .. R-2 of the output word: registered when read; the part of this
            // step passes through; parts past the frame's last input word are zero
            genvar k;
            for (k = 0; k < R - 1; k = k + 1) begin : g_part
                // verilator lint_off WIDTHTRUNC
                localparam [SLW-1:0] KS = k;
                // verilator lint_on WIDTHTRUNC
                reg [IN_W-1:0] part;
                always @(posedge clk) begin
                    if (fire && slot == KS) part <= in_data;
                end
                if (WHOLE != 0) begin : g_read
                    assign out_data[k*IN_W +: IN_W] = part;   // (written at slot R-1 only)
                end else begin : g_sel
                    assign out_data[k*IN_W +: IN_W] = (slot == KS) ? in_data :
                                                      (slot > KS) ? part : {IN_W{1'b0}};
                end
            end
            assign fire = in_valid && (!wr || out_ready);
            assign in_ready = (!wr || out_ready);
            assign out_valid = wr && in_valid;
            always @(posedge clk) begin
                if (!rst_n) slot <= {SLW{1'b0}};
                else if (fire) slot <= wr ? {SLW{1'b0}} : slot + 1'b1;
            end
        end
    endgenerate
endmodule
