// bnnc_pool -- binary max-pool: OR of the bits of a KxK window (AND where AND_MASK is set).
//
//   bnnc_pool #(.C, .H, .W, .K, .SIMD, .AND_MASK) u (clk, rst_n, in_*, out_*);
//
// Stream format: identical to bnnc_pool.h. Input per frame H*W*(C/SIMD) words of SIMD
// bits in the order (y, x, cb), channel cb*SIMD at the LSB; output (H/K)*(W/K)*(C/SIMD)
// words in the order (oy, ox, cb). Kernel = stride = K, no padding; rows and columns
// past (H/K)*K, (W/K)*K are read and dropped. AND_MASK bit c selects AND (min) for
// channel c. Equals bnnc.golden.pool.
//
// Cycle behaviour: a static schedule of H*W*(C/SIMD) steps per frame; every step reads
// one word; the step that reads a window's last word (row oy*K+K-1, column ox*K+K-1)
// writes the pooled word in the same cycle.
module bnnc_pool #(
    parameter integer C = 4,
    parameter integer H = 4,
    parameter integer W = 4,
    parameter integer K = 2,
    parameter integer SIMD = 4,
    parameter [C-1:0] AND_MASK = {C{1'b0}}
) (
    input  wire            clk,
    input  wire            rst_n,
    input  wire            in_valid,
    output wire            in_ready,
    input  wire [SIMD-1:0] in_data,
    output wire            out_valid,
    input  wire            out_ready,
    output wire [SIMD-1:0] out_data
);
    localparam integer CB = C / SIMD;
    localparam integer OH = H / K;
    localparam integer OW = W / K;

    reg [SIMD-1:0] rows [0:OW*CB-1];  // merged window rows so far, per (ox, cb)
    reg [SIMD-1:0] hreg [0:CB-1];     // merged words of the current window row, per cb
    reg [31:0] x, y, cb, kx, ky, ox;

    wire used = (y < OH * K) && (x < OW * K);
    // verilator lint_off UNUSEDSIGNAL
    wire [31:0] col = ox * CB + cb;  // only the low bits address rows[]
    // verilator lint_on UNUSEDSIGNAL
    // verilator lint_off UNUSEDSIGNAL
    wire [C-1:0] mask_all = AND_MASK >> (cb * SIMD);  // the low SIMD bits are this cb's
    // verilator lint_on UNUSEDSIGNAL
    wire [SIMD-1:0] m = mask_all[SIMD-1:0];
    wire [SIMD-1:0] left = hreg[CB-1];
    wire [SIMD-1:0] hrow = (kx == 0) ? in_data : (((left | in_data) & ~m) | (left & in_data & m));
    wire [SIMD-1:0] above = rows[col];
    wire [SIMD-1:0] merged = (ky == 0) ? hrow : (((above | hrow) & ~m) | (above & hrow & m));
    wire wr = used && (kx == K - 1) && (ky == K - 1);

    wire fire = in_valid && (!wr || out_ready);
    assign in_ready = (!wr || out_ready);
    assign out_valid = wr && in_valid;
    assign out_data = merged;

    wire end_cb = cb == CB - 1;
    wire end_x = end_cb && (x == W - 1);
    wire end_y = end_x && (y == H - 1);
    wire end_kx = end_cb && (end_x || kx == K - 1);
    wire end_ky = end_x && (end_y || ky == K - 1);

    integer j;
    always @(posedge clk) begin
        if (fire && used) begin
            for (j = CB - 1; j > 0; j = j - 1) hreg[j] <= hreg[j - 1];
            hreg[0] <= hrow;
            if (kx == K - 1 && ky != K - 1) rows[col] <= merged;
        end
    end

    always @(posedge clk) begin
        if (!rst_n) begin
            x <= 0;
            y <= 0;
            cb <= 0;
            kx <= 0;
            ky <= 0;
            ox <= 0;
        end else if (fire) begin
            cb <= end_cb ? 0 : cb + 1;
            if (end_cb) begin
                x <= end_x ? 0 : x + 1;
                kx <= end_kx ? 0 : kx + 1;
            end
            if (end_kx) ox <= end_x ? 0 : ox + 1;
            if (end_x) begin
                y <= end_y ? 0 : y + 1;
                ky <= end_ky ? 0 : ky + 1;
            end
        end
    end
endmodule
