// bnnc_matvec_acc -- the accumulators and the output word of the matrix-vector units
// (bnnc_matvec, bnnc_codebook): threshold bits or scores.
//
//   bnnc_matvec_acc #(.PE, .NF, .CW, .ACC_BITS, .OUT_BITS, .THRESH, .T_FILE, .I_FILE, .T_BRAM)
//                   u (clk, fire, first, t_addr, contrib, out_data);
//
// contrib holds each PE's signed CW-bit contribution of this step (PE pe at pe*CW). In a
// step that fires, PE pe's accumulator takes sum = (first ? 0 : acc) + contrib, exact in
// max(ACC_BITS, CW)+1 bits and kept in ACC_BITS (the compiler sizes ACC_BITS from the
// accumulator bounds). out_data is combinational in this step's sum, for the step that
// writes the output word (the schedule's last sf):
//   THRESH=1: PE bits, bit pe = (sum >= thr) ^ inv of neuron nf*PE + pe;
//   THRESH=0: PE two's-complement OUT_BITS fields, neuron nf*PE + pe at field pe.
// T_FILE: NF words of PE*ACC_BITS bits (thresholds, PE pe at pe*ACC_BITS); I_FILE: NF words
// of PE bits (invert flags); both read one cycle ahead at t_addr (the schedule's nf_addr)
// from synchronous ROMs (bnnc_rom; T_BRAM as bnnc.cost.rom_in_bram chose).
module bnnc_matvec_acc #(
    parameter integer PE = 1,
    parameter integer NF = 1,
    parameter integer CW = 2,
    parameter integer ACC_BITS = 8,
    parameter integer OUT_BITS = 32,
    parameter integer THRESH = 1,
    parameter T_FILE = "t.mem",
    parameter I_FILE = "i.mem",
    parameter integer T_BRAM = 0
) (
    input  wire                                   clk,
    input  wire                                   fire,
    input  wire                                   first,
    // verilator lint_off UNUSEDSIGNAL
    input  wire [((NF > 1) ? $clog2(NF) : 1)-1:0] t_addr,  // clog2(NF) bits; unused with THRESH=0
    // verilator lint_on UNUSEDSIGNAL
    input  wire [PE*CW-1:0]                       contrib,
    output wire [((THRESH != 0) ? PE : PE*OUT_BITS)-1:0] out_data
);
    localparam integer SW = ((ACC_BITS > CW) ? ACC_BITS : CW) + 1;  // sum width

    wire [PE*SW-1:0] sums;
    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : g_pe
            wire signed [CW-1:0] c = contrib[p*CW +: CW];
            reg signed [ACC_BITS-1:0] acc;
            wire signed [SW-1:0] base = first ? {SW{1'b0}} : {{(SW-ACC_BITS){acc[ACC_BITS-1]}}, acc};
            wire signed [SW-1:0] sum = base + {{(SW-CW){c[CW-1]}}, c};
            assign sums[p*SW +: SW] = sum;
            always @(posedge clk) begin
                if (fire) acc <= sum[ACC_BITS-1:0];
            end
        end
    endgenerate

    generate
        if (THRESH != 0) begin : g_thr
            // thresholds and invert flags of this nf (read one cycle ahead)
            wire [PE*ACC_BITS-1:0] t_q;
            wire [PE-1:0] i_q;
            bnnc_rom #(.WIDTH(PE*ACC_BITS), .DEPTH(NF), .FILE(T_FILE), .BRAM(T_BRAM)) u_t (
                .clk(clk), .addr(t_addr), .q(t_q));
            bnnc_rom #(.WIDTH(PE), .DEPTH(NF), .FILE(I_FILE), .BRAM(T_BRAM)) u_i (
                .clk(clk), .addr(t_addr), .q(i_q));
            genvar q;
            for (q = 0; q < PE; q = q + 1) begin : g_cmp
                wire signed [SW-1:0] thr = {{(SW-ACC_BITS){t_q[q*ACC_BITS+ACC_BITS-1]}}, t_q[q*ACC_BITS +: ACC_BITS]};
                wire signed [SW-1:0] s = sums[q*SW +: SW];
                assign out_data[q] = (s >= thr) ^ i_q[q];
            end
        end else begin : g_scores
            genvar q;
            for (q = 0; q < PE; q = q + 1) begin : g_field
                // the exact sum fits ACC_BITS (bnnc sizes it from the accumulator bounds)
                // verilator lint_off UNUSEDSIGNAL
                wire signed [SW-1:0] s = sums[q*SW +: SW];
                // verilator lint_on UNUSEDSIGNAL
                wire signed [ACC_BITS-1:0] a = s[ACC_BITS-1:0];
                assign out_data[q*OUT_BITS +: OUT_BITS] = {{(OUT_BITS-ACC_BITS){a[ACC_BITS-1]}}, a};
            end
        end
    endgenerate
endmodule
