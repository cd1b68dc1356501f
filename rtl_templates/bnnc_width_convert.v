// bnnc_width_convert -- stream width converter (identity on the bit sequence).
//
//   bnnc_width_convert #(.IN_W, .OUT_W, .IN_WORDS, .OUT_WORDS) u (clk, rst_n, in_*, out_*);
//
// Stream format: identical to bnnc_width_convert.h (hls_templates). Per frame IN_WORDS
// words of IN_W bits in, OUT_WORDS words of OUT_W bits out, the same bits LSB first.
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
//         i/R < IN_WORDS, writes when i < OUT_WORDS;
//   up:   step i (0 <= i < IN_WORDS) reads; writes when i % R == R-1 or i == IN_WORDS-1;
//   copy: step i reads and writes.
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
            reg [31:0] step;      // step within the frame
            reg [31:0] sub;       // step % R
            reg [IN_W-1:0] word;  // the input word being split
            wire rd = (sub == 0) && (step < LAST_READ);
            wire wr = step < OUT_WORDS;
            wire [IN_W-1:0] cur = rd ? in_data : word;
            wire fire = (!rd || in_valid) && (!wr || out_ready);
            assign in_ready = rd && (!wr || out_ready);
            assign out_valid = wr && (!rd || in_valid);
            assign out_data = cur[sub * OUT_W +: OUT_W];
            always @(posedge clk) begin
                if (!rst_n) begin
                    step <= 0;
                    sub <= 0;
                    word <= {IN_W{1'b0}};
                end else if (fire) begin
                    if (rd) word <= in_data;
                    if (step == STEPS - 1) begin
                        step <= 0;
                        sub <= 0;
                    end else begin
                        step <= step + 1;
                        sub <= (sub == R - 1) ? 0 : sub + 1;
                    end
                end
            end
        end else begin : g_up
            localparam integer R = OUT_W / IN_W;
            reg [31:0] step;  // input word within the frame
            reg [31:0] slot;  // step % R
            reg [OUT_W-1:0] acc;
            wire wr = (slot == R - 1) || (step == IN_WORDS - 1);
            wire [OUT_W-1:0] base = (slot == 0) ? {OUT_W{1'b0}} : acc;
            wire [OUT_W-1:0] placed = {{(OUT_W-IN_W){1'b0}}, in_data} << (slot * IN_W);
            wire [OUT_W-1:0] next = base | placed;
            wire fire = in_valid && (!wr || out_ready);
            assign in_ready = (!wr || out_ready);
            assign out_valid = wr && in_valid;
            assign out_data = next;
            always @(posedge clk) begin
                if (!rst_n) begin
                    step <= 0;
                    slot <= 0;
                    acc <= {OUT_W{1'b0}};
                end else if (fire) begin
                    acc <= next;
                    slot <= wr ? 0 : slot + 1;
                    step <= (step == IN_WORDS - 1) ? 0 : step + 1;
                end
            end
        end
    endgenerate
endmodule
