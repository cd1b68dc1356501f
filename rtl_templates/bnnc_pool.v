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
//
// Every counter is as wide as its range (at least 1 bit); the address ox*CB + cb of the
// merged rows is a running counter (col, with col_base = ox*CB), not a product.
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
    localparam integer XW = (W > 1) ? $clog2(W) : 1;
    localparam integer YW = (H > 1) ? $clog2(H) : 1;
    localparam integer CBW = (CB > 1) ? $clog2(CB) : 1;
    localparam integer KW = (K > 1) ? $clog2(K) : 1;
    localparam integer COLW = (OW * CB > 1) ? $clog2(OW * CB) : 1;
    // the constants at the widths they are compared with
    // verilator lint_off WIDTHTRUNC
    localparam [XW-1:0] W_LAST = W - 1;
    localparam [YW-1:0] H_LAST = H - 1;
    localparam [CBW-1:0] CB_LAST = CB - 1;
    localparam [KW-1:0] K_LAST = K - 1;
    localparam [XW:0] OW_K = OW * K;  // columns (rows) at or past OW*K (OH*K) are dropped
    localparam [YW:0] OH_K = OH * K;
    // verilator lint_on WIDTHTRUNC

    reg [SIMD-1:0] rows [0:OW*CB-1];  // merged window rows so far, per (ox, cb)
    reg [SIMD-1:0] hreg [0:CB-1];     // merged words of the current window row, per cb
    reg [XW-1:0] x;
    reg [YW-1:0] y;
    reg [CBW-1:0] cb;
    reg [KW-1:0] kx, ky;
    // col = ox*CB + cb of the current word, col_base = ox*CB (ox = the window column);
    // in the dropped columns past OW*K they run on unused (and may wrap) until the row ends
    reg [COLW-1:0] col, col_base;

    // (no comparison where every row / column is used)
    wire used = ((OH * K == H) || ({1'b0, y} < OH_K)) && ((OW * K == W) || ({1'b0, x} < OW_K));
    wire [SIMD-1:0] m = AND_MASK[cb * SIMD +: SIMD];  // this cb's AND-channels
    wire [SIMD-1:0] left = hreg[CB-1];
    wire [SIMD-1:0] hrow = (kx == 0) ? in_data : (((left | in_data) & ~m) | (left & in_data & m));
    wire [SIMD-1:0] above = rows[col];
    wire [SIMD-1:0] merged = (ky == 0) ? hrow : (((above | hrow) & ~m) | (above & hrow & m));
    wire wr = used && (kx == K_LAST) && (ky == K_LAST);

    wire fire = in_valid && (!wr || out_ready);
    assign in_ready = (!wr || out_ready);
    assign out_valid = wr && in_valid;
    assign out_data = merged;

    wire end_cb = cb == CB_LAST;
    wire end_x = end_cb && (x == W_LAST);
    wire end_y = end_x && (y == H_LAST);
    wire end_kx = end_cb && (end_x || kx == K_LAST);
    wire end_ky = end_x && (end_y || ky == K_LAST);

    integer j;
    always @(posedge clk) begin
        if (fire && used) begin
            for (j = CB - 1; j > 0; j = j - 1) hreg[j] <= hreg[j - 1];
            hreg[0] <= hrow;
            if (kx == K_LAST && ky != K_LAST) rows[col] <= merged;
        end
    end

    always @(posedge clk) begin
        if (!rst_n) begin
            x <= {XW{1'b0}};
            y <= {YW{1'b0}};
            cb <= {CBW{1'b0}};
            kx <= {KW{1'b0}};
            ky <= {KW{1'b0}};
            col <= {COLW{1'b0}};
            col_base <= {COLW{1'b0}};
        end else if (fire) begin
            cb <= end_cb ? {CBW{1'b0}} : cb + 1'b1;
            if (end_cb) begin
                x <= end_x ? {XW{1'b0}} : x + 1'b1;
                kx <= end_kx ? {KW{1'b0}} : kx + 1'b1;
            end
            // next word's column: the next cb of this window column, back to its first cb
            // for the window's next column, on to the next window column, or 0 (next row)
            if (end_x) begin
                col <= {COLW{1'b0}};
                col_base <= {COLW{1'b0}};
            end else if (end_kx) begin
                col <= col + 1'b1;
                col_base <= col + 1'b1;
            end else begin
                col <= end_cb ? col_base : col + 1'b1;
            end
            if (end_x) begin
                y <= end_y ? {YW{1'b0}} : y + 1'b1;
                ky <= end_ky ? {KW{1'b0}} : ky + 1'b1;
            end
        end
    end
endmodule
