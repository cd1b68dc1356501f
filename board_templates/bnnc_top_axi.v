// bnnc_top_axi -- the Verilog twin's bnnc_top behind the HLS top's AXI-Lite control
// interface, so that make bitstream SOURCE=rtl gives the same block design and the
// host driver the same registers as the HLS IP (a static file of bnnc's board flow).
//
// Register map of s_axi_control (as Vitis HLS's ap_ctrl_hs + one scalar):
//   0x00 ap_ctrl: bit 0 ap_start (write 1 to start a batch; reads 1 while running),
//                 bit 1 ap_done (set when the batch's last word left, cleared by reading),
//                 bit 2 ap_idle (no batch running)
//   0x10 n_frames: frames in the next batch (the output TLAST comes after that many)
// The input stream is accepted only while a batch runs (after ap_start, until the
// output word with TLAST has been sent), as the HLS top reads only while started.
module bnnc_top_axi #(
    parameter integer ADDR_BITS = 6
) (
    input  wire                 ap_clk,
    input  wire                 ap_rst_n,
    input  wire [ADDR_BITS-1:0] s_axi_control_AWADDR,
    input  wire                 s_axi_control_AWVALID,
    output wire                 s_axi_control_AWREADY,
    input  wire [31:0]          s_axi_control_WDATA,
    input  wire [3:0]           s_axi_control_WSTRB,
    input  wire                 s_axi_control_WVALID,
    output wire                 s_axi_control_WREADY,
    output wire [1:0]           s_axi_control_BRESP,
    output wire                 s_axi_control_BVALID,
    input  wire                 s_axi_control_BREADY,
    input  wire [ADDR_BITS-1:0] s_axi_control_ARADDR,
    input  wire                 s_axi_control_ARVALID,
    output wire                 s_axi_control_ARREADY,
    output wire [31:0]          s_axi_control_RDATA,
    output wire [1:0]           s_axi_control_RRESP,
    output wire                 s_axi_control_RVALID,
    input  wire                 s_axi_control_RREADY,
    input  wire [63:0]          in_r_TDATA,
    input  wire                 in_r_TVALID,
    output wire                 in_r_TREADY,
    input  wire                 in_r_TLAST,
    input  wire [7:0]           in_r_TKEEP,
    input  wire [7:0]           in_r_TSTRB,
    output wire [63:0]          out_r_TDATA,
    output wire                 out_r_TVALID,
    input  wire                 out_r_TREADY,
    output wire                 out_r_TLAST,
    output wire [7:0]           out_r_TKEEP,
    output wire [7:0]           out_r_TSTRB
);
    localparam [ADDR_BITS-1:0] ADDR_CTRL = 0, ADDR_N_FRAMES = 'h10;

    reg        busy;      // a batch is running (ap_start reads 1, ap_idle 0)
    reg        done;      // ap_done, clear on read
    reg [31:0] n_frames;

    // ---------------------------------------------------------------- write channel
    reg                 aw_full, w_full, bvalid;
    reg [ADDR_BITS-1:0] aw_addr;
    reg [31:0]          w_data;
    assign s_axi_control_AWREADY = !aw_full && !bvalid;
    assign s_axi_control_WREADY = !w_full && !bvalid;
    assign s_axi_control_BVALID = bvalid;
    assign s_axi_control_BRESP = 2'b00;
    wire do_write = aw_full && w_full;

    // ---------------------------------------------------------------- read channel
    reg        rvalid;
    reg [31:0] rdata;
    assign s_axi_control_ARREADY = !rvalid;
    assign s_axi_control_RVALID = rvalid;
    assign s_axi_control_RDATA = rdata;
    assign s_axi_control_RRESP = 2'b00;
    wire do_read = s_axi_control_ARVALID && !rvalid;

    // ---------------------------------------------------------------- the accelerator
    wire core_in_ready;
    assign in_r_TREADY = busy && core_in_ready;
    wire finish = out_r_TVALID && out_r_TREADY && out_r_TLAST;

    bnnc_top u_core (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .n_frames(n_frames),
        .in_r_TDATA(in_r_TDATA), .in_r_TVALID(in_r_TVALID && busy), .in_r_TREADY(core_in_ready),
        .in_r_TLAST(in_r_TLAST), .in_r_TKEEP(in_r_TKEEP), .in_r_TSTRB(in_r_TSTRB),
        .out_r_TDATA(out_r_TDATA), .out_r_TVALID(out_r_TVALID), .out_r_TREADY(out_r_TREADY),
        .out_r_TLAST(out_r_TLAST), .out_r_TKEEP(out_r_TKEEP), .out_r_TSTRB(out_r_TSTRB));

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            aw_full <= 1'b0;
            w_full <= 1'b0;
            bvalid <= 1'b0;
            aw_addr <= 0;
            w_data <= 32'd0;
            rvalid <= 1'b0;
            rdata <= 32'd0;
            busy <= 1'b0;
            done <= 1'b0;
            n_frames <= 32'd1;
        end else begin
            if (s_axi_control_AWVALID && s_axi_control_AWREADY) begin
                aw_full <= 1'b1;
                aw_addr <= s_axi_control_AWADDR;
            end
            if (s_axi_control_WVALID && s_axi_control_WREADY) begin
                w_full <= 1'b1;
                w_data <= s_axi_control_WDATA;
            end
            if (do_write) begin
                aw_full <= 1'b0;
                w_full <= 1'b0;
                bvalid <= 1'b1;
                if (aw_addr == ADDR_N_FRAMES && !busy)
                    n_frames <= w_data;
            end
            if (bvalid && s_axi_control_BREADY)
                bvalid <= 1'b0;

            if (do_read) begin
                rvalid <= 1'b1;
                if (s_axi_control_ARADDR == ADDR_CTRL)
                    rdata <= {29'd0, !busy, done, busy};
                else if (s_axi_control_ARADDR == ADDR_N_FRAMES)
                    rdata <= n_frames;
                else
                    rdata <= 32'd0;
            end
            if (rvalid && s_axi_control_RREADY)
                rvalid <= 1'b0;

            // ap_done: cleared by reading ap_ctrl, set by the batch's last output word
            if (do_read && s_axi_control_ARADDR == ADDR_CTRL)
                done <= 1'b0;
            if (finish) begin
                busy <= 1'b0;
                done <= 1'b1;
            end else if (do_write && aw_addr == ADDR_CTRL && w_data[0] && !busy) begin
                busy <= 1'b1;
            end
        end
    end
endmodule
