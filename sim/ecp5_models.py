"""Behavioural Verilog models of the ECP5 cells that Yosys ships only as black boxes, for
simulating ECP5 netlists (:mod:`sim.netlist_link`): the ``MULT18X18D`` multiplier as Yosys
maps ``$mul`` onto it (no input, pipeline or output registers: ``P = A * B``, each operand
signed when ``SIGNEDA``/``SIGNEDB`` is set; any register stops the simulation at its start),
and the ``DP16KD`` block RAM.

The block RAM, written from Lattice's description of the primitive (ECP5 memory usage guide):
18 Kbit as 2,048 9-bit units; each port has its own width (``DATA_WIDTH_x``: 1, 2, 4, 9 or
18), clock, clock enable ``CEx``, write enable ``WEx``, chip selects ``CSx`` (compared with
``CSDECODE_x``) and output reset ``RSTx``. At a rising clock edge with ``CEx`` and the chip
selected:

- the word address is ``ADx[13:k]``, ``k`` = 0, 1, 2, 3, 4 for widths 1, 2, 4, 9, 18; at width
  18, ``ADx[0]`` and ``ADx[1]`` enable the write of the low (``DI[8:0]``) and high
  (``DI[17:9]``) 9-bit units of the word;
- a write stores ``DIx``; the output latch then keeps its value (``WRITEMODE`` ``NORMAL``),
  takes the written word (``WRITETHROUGH``) or the word before the write
  (``READBEFOREWRITE``); a read puts the word in the output latch;
- ``RSTx`` (``RESETMODE`` ``SYNC``) clears the output latch and the output register instead
  (``ASYNC`` is accepted while ``RSTx`` stays low, as Yosys ties it on block RAMs without an
  output reset; a rising asynchronous reset stops the simulation).

``REGMODE_x`` = ``NOREG``: the data pins show the output latch (one clock of latency).
``OUTREG``: they show the output register, which takes the latch at each rising edge where
``OCEx`` is set (two clocks of latency). Widths 1, 2 and 4 use the 8 data bits of each unit;
mixed widths on the two ports address the same units. Width 36 (pseudo dual port, as Yosys
maps a 36-bit memory): port A writes ``{DIB, DIA}`` at ``ADA[13:5]``, ``ADA[3:0]`` enabling its
four 9-bit units; port B reads at ``ADB[13:5]``, the low half on ``DOA``, the high half on
``DOB``, through port B's output register mode (``REGMODE_A`` must be the same). Contents
start at the ``INITVAL_xx`` parameters (16 18-bit words in each 320-bit row, 2 pad bits
after each word). An inverted clock stops the simulation at its start with a message naming it.
"""

from __future__ import annotations

from pathlib import Path

from sw.modelfile import atomic_write

__all__ = ["model_source", "write_model"]

PORT = """
  // port {p}
  wire [13:0] ad{p} = {{AD{p}13, AD{p}12, AD{p}11, AD{p}10, AD{p}9, AD{p}8, AD{p}7, AD{p}6,
                       AD{p}5, AD{p}4, AD{p}3, AD{p}2, AD{p}1, AD{p}0}};
  wire [17:0] di{p} = {{DI{p}17, DI{p}16, DI{p}15, DI{p}14, DI{p}13, DI{p}12, DI{p}11, DI{p}10,
                       DI{p}9, DI{p}8, DI{p}7, DI{p}6, DI{p}5, DI{p}4, DI{p}3, DI{p}2, DI{p}1,
                       DI{p}0}};
  wire selected{p} = {{CS{p}2, CS{p}1, CS{p}0}} == csdecode(CSDECODE_{p});
  reg [17:0] latch{p} = 18'd0, out_reg{p} = 18'd0;
  wire [17:0] do{p} = DATA_WIDTH_B == 36 ? pins36[{hi}:{lo}]
                    : REGMODE_{p} == "OUTREG" ? out_reg{p} : latch{p};
  assign {{DO{p}17, DO{p}16, DO{p}15, DO{p}14, DO{p}13, DO{p}12, DO{p}11, DO{p}10, DO{p}9,
          DO{p}8, DO{p}7, DO{p}6, DO{p}5, DO{p}4, DO{p}3, DO{p}2, DO{p}1, DO{p}0}} = do{p};
  always @(posedge CLK{p}) if (DATA_WIDTH_{p} != 36) begin
    if (RST{p}) begin
      latch{p} <= 18'd0;
      out_reg{p} <= 18'd0;
    end else begin
      if (OCE{p}) out_reg{p} <= latch{p};
      if (CE{p} && selected{p}) begin
        if (WE{p}) begin
          if (WRITEMODE_{p} == "WRITETHROUGH") latch{p} <= di{p};
          else if (WRITEMODE_{p} == "READBEFOREWRITE") latch{p} <= read_word(DATA_WIDTH_{p}, ad{p});
          write_word(DATA_WIDTH_{p}, ad{p}, di{p});
        end else begin
          latch{p} <= read_word(DATA_WIDTH_{p}, ad{p});
        end
      end
    end
  end
"""

WIDE = """
  // 36 bits: port A writes ({DIB, DIA}, the 9-bit units enabled by ADA[3:0]) and port B reads
  // (its low half on DOA, its high half on DOB), both at address AD[13:5]
  reg [35:0] latch36 = 36'd0, out_reg36 = 36'd0;
  wire [35:0] pins36 = REGMODE_B == "OUTREG" ? out_reg36 : latch36;
  always @(posedge CLKA) if (DATA_WIDTH_A == 36 && CEA && WEA && selectedA) begin
    for (k = 0; k < 4; k = k + 1)
      if (adA[k]) units[4 * (adA >> 5) + k] = {diB, diA} >> (9 * k);
  end
  always @(posedge CLKB) if (DATA_WIDTH_B == 36) begin
    if (RSTB) begin
      latch36 <= 36'd0;
      out_reg36 <= 36'd0;
    end else begin
      if (OCEB) out_reg36 <= latch36;
      if (CEB && selectedB)
        latch36 <= {units[4 * (adB >> 5) + 3], units[4 * (adB >> 5) + 2],
                    units[4 * (adB >> 5) + 1], units[4 * (adB >> 5)]};
    end
  end
"""

HEAD = """// DP16KD behavioural model for netlist simulation (sim/ecp5_models.py writes this file).
module DP16KD (
  input DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5,
  input DIA4, DIA3, DIA2, DIA1, DIA0,
  input ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0,
  input CEA, OCEA, CLKA, WEA, RSTA, CSA2, CSA1, CSA0,
  output DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5,
  output DOA4, DOA3, DOA2, DOA1, DOA0,
  input DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5,
  input DIB4, DIB3, DIB2, DIB1, DIB0,
  input ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0,
  input CEB, OCEB, CLKB, WEB, RSTB, CSB2, CSB1, CSB0,
  output DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5,
  output DOB4, DOB3, DOB2, DOB1, DOB0
);
  parameter integer DATA_WIDTH_A = 18;
  parameter integer DATA_WIDTH_B = 18;
  parameter REGMODE_A = "NOREG";
  parameter REGMODE_B = "NOREG";
  parameter RESETMODE = "SYNC";
  parameter ASYNC_RESET_RELEASE = "SYNC";
  parameter CSDECODE_A = "0b000";
  parameter CSDECODE_B = "0b000";
  parameter WRITEMODE_A = "NORMAL";
  parameter WRITEMODE_B = "NORMAL";
  parameter CLKAMUX = "CLKA";
  parameter CLKBMUX = "CLKB";
  parameter GSR = "ENABLED";
  parameter INIT_DATA = "STATIC";
{initvals}
  // the 2,048 9-bit units
  reg [8:0] units [0:2047];
  integer i, k;
  initial begin
    if (CLKAMUX != "CLKA" || CLKBMUX != "CLKB" || (DATA_WIDTH_B == 36 && REGMODE_A != REGMODE_B))
    begin
      $display("DP16KD model: clocks %s/%s, REGMODE %s/%s at width 36 have no model here",
               CLKAMUX, CLKBMUX, REGMODE_A, REGMODE_B);
      $finish;
    end
    for (i = 0; i < 1024; i = i + 1) begin
{init_units}
    end
  end

  // RESETMODE ASYNC is modelled as long as the output resets are never used (Yosys sets it
  // on block RAMs whose RSTA/RSTB are tied low)
  always @(posedge RSTA or posedge RSTB) if (RESETMODE != "SYNC") begin
    $display("DP16KD model: an asynchronous output reset has no model here");
    $finish;
  end

  function [2:0] csdecode(input [8*5-1:0] text);  // "0bXYZ"
    csdecode = {{text[16], text[8], text[0]}};
  endfunction

  function integer low_bits(input integer width);
    low_bits = width == 18 ? 4 : width == 9 ? 3 : width == 4 ? 2 : width == 2 ? 1 : 0;
  endfunction

  function [17:0] read_word(input integer width, input [13:0] address);
    integer word, bit_index;
    begin
      word = address >> low_bits(width);
      read_word = 18'd0;
      if (width == 18) read_word = {{units[2 * word + 1], units[2 * word]}};
      else if (width == 9) read_word = {{9'd0, units[word]}};
      else begin
        bit_index = word * width;
        read_word = ({{units[bit_index / 8]}} >> (bit_index % 8)) & ((18'd1 << width) - 1);
      end
    end
  endfunction

  task write_word(input integer width, input [13:0] address, input [17:0] data);
    integer word, bit_index, k;
    begin
      word = address >> low_bits(width);
      if (width == 18) begin
        if (address[0]) units[2 * word] = data[8:0];
        if (address[1]) units[2 * word + 1] = data[17:9];
      end else if (width == 9) units[word] = data[8:0];
      else begin
        bit_index = word * width;
        for (k = 0; k < width; k = k + 1)
          units[(bit_index + k) / 8][(bit_index + k) % 8] = data[k];
      end
    end
  endtask
"""


MULTIPLIER = """
// MULT18X18D as Yosys maps $mul onto it: combinational (sim/ecp5_models.py writes this file).
module MULT18X18D (
  input A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0,
  input B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0,
  input C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1, C0,
  input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
  input CLK0, CLK1, CLK2, CLK3, CE0, CE1, CE2, CE3, RST0, RST1, RST2, RST3,
  output P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19,
  output P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0
);
  parameter REG_INPUTA_CLK = "NONE";
  parameter REG_INPUTB_CLK = "NONE";
  parameter REG_PIPELINE_CLK = "NONE";
  parameter REG_OUTPUT_CLK = "NONE";
  parameter GSR = "ENABLED";
  initial if (REG_INPUTA_CLK != "NONE" || REG_INPUTB_CLK != "NONE"
              || REG_PIPELINE_CLK != "NONE" || REG_OUTPUT_CLK != "NONE") begin
    $display("MULT18X18D model: registered operands or products have no model here");
    $finish;
  end
  wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1,
                   A0};
  wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1,
                   B0};
  wire signed [18:0] a_ext = {SIGNEDA & a[17], a};
  wire signed [18:0] b_ext = {SIGNEDB & b[17], b};
  wire signed [37:0] product = a_ext * b_ext;
  assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19,
          P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1,
          P0} = product[35:0];
endmodule
"""


def model_source() -> str:
    """The Verilog text of the models."""
    initvals = "\n".join(f"  parameter [319:0] INITVAL_{row:02X} = 320'd0;" for row in range(64))
    # word i of the block: row i / 16, column i % 16 (20 bits a column, 18 used)
    cases = "\n".join(
        f"      if (i / 16 == {row}) {{units[2 * i + 1], units[2 * i]}} = "
        f"INITVAL_{row:02X}[(i % 16) * 20 +: 18];"
        for row in range(64)
    )
    head = HEAD.format(initvals=initvals, init_units=cases)
    ports = PORT.format(p="A", lo=0, hi=17) + PORT.format(p="B", lo=18, hi=35)
    return head + ports + WIDE + "endmodule\n" + MULTIPLIER


def write_model(path) -> Path:
    """Write the model to ``path`` (atomically) and return it."""
    path = Path(path)
    atomic_write(path, model_source().encode())
    return path
