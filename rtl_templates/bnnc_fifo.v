// bnnc_fifo -- synchronous stream FIFO (valid/ready on both sides).
//
//   bnnc_fifo #(.WIDTH(W), .DEPTH(D)) u (.clk, .rst_n, .in_valid, .in_ready, .in_data,
//                                         .out_valid, .out_ready, .out_data);
//
// Cycle behaviour (the bnnc cycle model relies on it, see bnnc/cycles.py):
//   * in_ready  = (count != DEPTH), out_valid = (count != 0), both registered state:
//     neither depends combinationally on the other side;
//   * a word written in cycle c is visible at the output in cycle c+1 (latency 1);
//   * a write into a full FIFO is not accepted even if a read happens in the same
//     cycle; one write and one read per cycle otherwise (full rate).
// Storage is an array read asynchronously (distributed RAM on Xilinx fabric).
// Synchronous active-low reset clears the pointers.
module bnnc_fifo #(
    parameter integer WIDTH = 8,
    parameter integer DEPTH = 2
) (
    input  wire             clk,
    input  wire             rst_n,
    input  wire             in_valid,
    output wire             in_ready,
    input  wire [WIDTH-1:0] in_data,
    output wire             out_valid,
    input  wire             out_ready,
    output wire [WIDTH-1:0] out_data
);
    localparam integer AW = (DEPTH <= 2) ? 1 : $clog2(DEPTH);
    localparam [AW:0] FULL = DEPTH[AW:0];
    localparam [AW-1:0] LAST = DEPTH[AW-1:0] - 1'b1;

    reg [WIDTH-1:0] mem [0:DEPTH-1];
    reg [AW-1:0] wptr;
    reg [AW-1:0] rptr;
    reg [AW:0] count;

    wire push = in_valid && (count != FULL);
    wire pop = (count != 0) && out_ready;

    assign in_ready = (count != FULL);
    assign out_valid = (count != 0);
    assign out_data = mem[rptr];

    always @(posedge clk) begin
        if (push) mem[wptr] <= in_data;
    end

    always @(posedge clk) begin
        if (!rst_n) begin
            wptr <= 0;
            rptr <= 0;
            count <= 0;
        end else begin
            if (push) wptr <= (wptr == LAST) ? {AW{1'b0}} : wptr + 1'b1;
            if (pop) rptr <= (rptr == LAST) ? {AW{1'b0}} : rptr + 1'b1;
            if (push && !pop) count <= count + 1'b1;
            else if (pop && !push) count <= count - 1'b1;
        end
    end
endmodule
