// bnnc_popcount -- the number of ones in an N-bit word (the matrix-vector units' popcount).
//
//   bnnc_popcount #(.N, .W) u (bits, count);    // W >= $clog2(N + 1)
//
// $countones (an adder tree in synthesis) in chunks of at most CHUNK bits whose counts are
// then added: one $countones over many hundred bits overflows the WebAssembly Yosys's stack.
module bnnc_popcount #(
    parameter integer N = 1,
    parameter integer W = 1
) (
    input  wire [N-1:0] bits,
    output wire [W-1:0] count
);
    localparam integer CHUNK = 128;
    localparam integer PARTS = (N + CHUNK - 1) / CHUNK;
    genvar c;
    generate
        if (N <= CHUNK) begin : g_one
            // verilator lint_off UNUSEDSIGNAL
            wire [31:0] c32 = $countones(bits);
            // verilator lint_on UNUSEDSIGNAL
            assign count = c32[W-1:0];
        end else begin : g_parts
            // verilator lint_off UNUSEDSIGNAL
            wire [31:0] part [0:PARTS-1];
            // verilator lint_on UNUSEDSIGNAL
            for (c = 0; c < PARTS; c = c + 1) begin : g_part
                localparam integer LO = c * CHUNK;
                localparam integer PW = (N - LO < CHUNK) ? N - LO : CHUNK;
                assign part[c] = $countones(bits[LO +: PW]);
            end
            reg [W-1:0] tot;
            integer j;
            always @(*) begin
                tot = {W{1'b0}};
                for (j = 0; j < PARTS; j = j + 1) tot = tot + part[j][W-1:0];
            end
            assign count = tot;
        end
    endgenerate
endmodule
