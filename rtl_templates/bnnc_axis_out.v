// bnnc_axis_out -- internal 64-bit stream -> AXI4-Stream master with TLAST.
//
// Pure wiring plus a word counter: TVALID/TDATA follow the internal stream, TKEEP and
// TSTRB are all ones, TLAST is 1 on the last word of every batch of n_frames frames of
// WORDS words (n_frames = 0 is treated as 1). No added latency.
module bnnc_axis_out #(
    parameter integer WORDS = 1
) (
    input  wire        clk,
    input  wire        rst_n,
    input  wire [31:0] n_frames,
    input  wire        in_valid,
    output wire        in_ready,
    input  wire [63:0] in_data,
    output wire [63:0] m_axis_tdata,
    output wire        m_axis_tvalid,
    input  wire        m_axis_tready,
    output wire        m_axis_tlast,
    output wire [7:0]  m_axis_tkeep,
    output wire [7:0]  m_axis_tstrb
);
    localparam integer WW = (WORDS > 1) ? $clog2(WORDS) : 1;
    // verilator lint_off WIDTHTRUNC
    localparam [WW-1:0] WORD_LAST = WORDS - 1;
    // verilator lint_on WIDTHTRUNC
    reg [WW-1:0] word;  // word within the frame (as wide as its range)
    reg [31:0] frame;   // frame within the batch (n_frames is a run-time 32-bit count)
    wire last_word = word == WORD_LAST;
    wire last_frame = ({1'b0, frame} + 33'd1 >= {1'b0, n_frames});
    assign m_axis_tdata = in_data;
    assign m_axis_tvalid = in_valid;
    assign in_ready = m_axis_tready;
    assign m_axis_tlast = last_word && last_frame;
    assign m_axis_tkeep = 8'hff;
    assign m_axis_tstrb = 8'hff;
    always @(posedge clk) begin
        if (!rst_n) begin
            word <= {WW{1'b0}};
            frame <= 32'd0;
        end else if (in_valid && m_axis_tready) begin
            word <= last_word ? {WW{1'b0}} : word + 1'b1;
            if (last_word) frame <= last_frame ? 32'd0 : frame + 32'd1;
        end
    end
endmodule
