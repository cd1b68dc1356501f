// bnnc_bitplane -- the bit-plane unit: per-plane XNOR-popcount, table lookup, adder, threshold.
//
//   bnnc_bitplane #(.MH, .PE, .PLANES, .TAPS, .EBITS, .ACC_BITS, .W_FILE, .TAB_FILE,
//                   .T_FILE, .I_FILE) u (clk, rst_n, in_*, out_*);
//
// SF = TAPS input words per window (one tap of all PLANES planes each, plane j at bit j),
// NF = MH/PE output words per window. Stream format and arithmetic: identical to
// bnnc::bitplane_matvec (bnnc_bitplane.h). Per (PE pe, plane j) a counter n_j adds the
// agreeing bits ~(w ^ x)[j] over the window's TAPS words; at the last tap
// acc = sum_j tab[(nf*PLANES + j)*(TAPS+1) + n_j] (field pe), exact in ACC_BITS two's
// complement, and out bit pe = (acc >= thr) ^ inv of filter nf*PE + pe.
// Constant memories ($readmemh, written by bnnc.backends.rtl):
//   W_FILE:   NF*SF words of PE*PLANES bits; word nf*SF+sf, bits pe*PLANES+j = kernel bit of
//             (plane j, filter nf*PE+pe) at tap sf (1 = +1);
//   TAB_FILE: NF*PLANES*(TAPS+1) words of PE*EBITS bits (two's complement, PE pe at pe*EBITS);
//   T_FILE:   NF words of PE*ACC_BITS bits (thresholds); I_FILE: NF words of PE bits.
//
// Cycle behaviour: bnnc_matvec's static schedule (NF*SF steps per window; step (nf, sf)
// reads an input word when nf == 0, writes an output word when sf == SF-1, in the cycle
// that counts the last tap). The tables are read combinationally (LUT ROMs); weights and
// thresholds one cycle ahead from synchronous ROMs.
module bnnc_bitplane #(
    parameter integer MH = 4,
    parameter integer PE = 1,
    parameter integer PLANES = 8,
    parameter integer TAPS = 9,
    parameter integer EBITS = 8,
    parameter integer ACC_BITS = 12,
    parameter W_FILE = "w.mem",
    parameter TAB_FILE = "tab.mem",
    parameter T_FILE = "t.mem",
    parameter I_FILE = "i.mem"
) (
    input  wire              clk,
    input  wire              rst_n,
    input  wire              in_valid,
    output wire              in_ready,
    input  wire [PLANES-1:0] in_data,
    output wire              out_valid,
    input  wire              out_ready,
    output wire [PE-1:0]     out_data
);
    localparam integer SF = TAPS;
    localparam integer NF = MH / PE;
    localparam integer TILES = NF * SF;
    localparam integer CB = $clog2(TAPS + 1);            // counter width
    localparam integer ROW = (TAPS + 1) * EBITS;         // one (PE, plane) table
    localparam integer NFB = (NF > 1) ? $clog2(NF) : 1;

    // ---- schedule (as bnnc_matvec)
    reg [31:0] sf, nf, tile;
    wire rd = (nf == 0);
    wire wr = (sf == SF - 1);
    wire fire = (!rd || in_valid) && (!wr || out_ready);
    assign in_ready = rd && (!wr || out_ready);
    assign out_valid = wr && (!rd || in_valid);
    wire [31:0] sf_next = wr ? 0 : sf + 1;
    wire [31:0] nf_next = wr ? ((nf == NF - 1) ? 0 : nf + 1) : nf;
    wire [31:0] tile_next = (tile == TILES - 1) ? 0 : tile + 1;
    always @(posedge clk) begin
        if (!rst_n) begin
            sf <= 0;
            nf <= 0;
            tile <= 0;
        end else if (fire) begin
            sf <= sf_next;
            nf <= nf_next;
            tile <= tile_next;
        end
    end

    // ---- the input word of this step: from the stream while nf == 0, else the buffer
    wire [PLANES-1:0] x;
    generate
        if (NF > 1) begin : g_vec
            reg [PLANES-1:0] vec [0:SF-1];
            always @(posedge clk) begin
                if (fire && rd) vec[sf] <= in_data;
            end
            assign x = rd ? in_data : vec[sf];
        end else begin : g_novec
            assign x = in_data;
        end
    endgenerate

    // ---- weights: w_q always holds wrom[tile] (read one cycle ahead)
    reg [PE*PLANES-1:0] wrom [0:TILES-1];
    initial $readmemh(W_FILE, wrom);
    reg [PE*PLANES-1:0] w_q;
    // verilator lint_off UNUSEDSIGNAL
    wire [31:0] w_addr = fire ? tile_next : tile;
    // verilator lint_on UNUSEDSIGNAL
    always @(posedge clk) w_q <= wrom[w_addr];

    // ---- thresholds and invert flags of this nf (read one cycle ahead)
    reg [PE*ACC_BITS-1:0] trom [0:NF-1];
    reg [PE-1:0] irom [0:NF-1];
    initial $readmemh(T_FILE, trom);
    initial $readmemh(I_FILE, irom);
    reg [PE*ACC_BITS-1:0] t_q;
    reg [PE-1:0] i_q;
    // verilator lint_off UNUSEDSIGNAL
    wire [31:0] t_addr = fire ? nf_next : nf;
    // verilator lint_on UNUSEDSIGNAL
    always @(posedge clk) begin
        t_q <= trom[t_addr];
        i_q <= irom[t_addr];
    end

    // ---- the per-plane tables: row nf holds every (PE, plane) table of this filter group,
    // read combinationally at nf (a register); each (PE, plane) selects its entry by n
`ifdef YOSYS
    (* rom_style = "logic" *)
`endif
    reg [PE*PLANES*ROW-1:0] tab [0:NF-1];
    initial $readmemh(TAB_FILE, tab);
    wire [PE*PLANES*ROW-1:0] tab_row = tab[nf[NFB-1:0]];

    genvar p, j;
    generate
        for (p = 0; p < PE; p = p + 1) begin : g_pe
            wire [PLANES-1:0] agree = ~(w_q[p*PLANES +: PLANES] ^ x);
            wire [PLANES*ACC_BITS-1:0] entries;
            for (j = 0; j < PLANES; j = j + 1) begin : g_plane
                reg [CB-1:0] cnt;
                wire [CB-1:0] one = 1;
                wire [CB-1:0] n = ((sf == 0) ? {CB{1'b0}} : cnt) + (agree[j] ? one : {CB{1'b0}});
                always @(posedge clk) begin
                    if (fire) cnt <= n;
                end
                wire [ROW-1:0] t = tab_row[(p*PLANES + j)*ROW +: ROW];
                wire [EBITS-1:0] e = t[n*EBITS +: EBITS];
                assign entries[j*ACC_BITS +: ACC_BITS] = {{(ACC_BITS-EBITS){e[EBITS-1]}}, e};
            end
            // adder tree over the planes (partial sums wrap; the whole sum fits ACC_BITS)
            reg [ACC_BITS-1:0] acc;
            integer k;
            always @(*) begin
                acc = {ACC_BITS{1'b0}};
                for (k = 0; k < PLANES; k = k + 1) acc = acc + entries[k*ACC_BITS +: ACC_BITS];
            end
            wire signed [ACC_BITS-1:0] s = acc;
            wire signed [ACC_BITS-1:0] thr = t_q[p*ACC_BITS +: ACC_BITS];
            assign out_data[p] = (s >= thr) ^ i_q[p];
        end
    endgenerate
endmodule
