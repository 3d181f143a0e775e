"""A Verilog harness around the generated accelerator that drives and records a whole run without
waking Python every cycle.

:func:`harness_verilog` writes module ``stablespike_tb``: the accelerator's ports, passed
through while ``fast`` is 0 (the cocotb driver and monitor work cycle by cycle, as for reset and
read-back tests), and with ``fast`` = 1:

- an input driver offers the words of a ``$readmemh`` file (``+tokens=FILE``, ``+n_tokens=N``)
  back to back, each after a random number of idle cycles: before each word a 16-bit draw of a
  32-bit Galois LFSR (``stall_seed``) below ``stall_threshold`` (``stall * 65536``) idles a cycle;
- the output's ready is low in a cycle when a draw of a second LFSR is below the threshold;
- every trace event, stable and noise spike and taken result word is written to ``+log=FILE``,
  one line each, in the order :class:`sim.tb_accelerator.Monitor` takes them;
- ``done`` rises once ``n_results`` words with ``last`` set were taken.

Python then sleeps until ``done`` and replays the log through the same checker. Icarus and
Verilator both run it (``$readmemh``, ``$fwrite``, ``$value$plusargs``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sw import numerics

__all__ = [
    "HARNESS",
    "MAX_TOKENS",
    "LFSR_MASK",
    "top_ports",
    "harness_verilog",
    "sample_tokens",
    "write_tokens",
]

#: Name of the harness module (the simulation's toplevel).
HARNESS = "stablespike_tb"
#: Most input words one fast run holds (the driver's memory).
MAX_TOKENS = 1 << 20
#: Galois mask of the stall LFSRs: the contract's 32-bit polynomial (``sw.numerics.LFSR_TAPS``).
LFSR_MASK = numerics.lfsr_mask(32)

_PORT = re.compile(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);", re.MULTILINE)


def top_ports(verilog: str, module: str) -> list[tuple[str, int, str]]:
    """``(direction, width, name)`` of every port of ``module`` in Amaranth's Verilog."""
    start = verilog.index(f"module {module}(")
    body = verilog[start : verilog.index("endmodule", start)]
    return [(d, int(msb) + 1 if msb else 1, name) for d, msb, name in _PORT.findall(body)]


def _declare(direction: str, width: int, name: str) -> str:
    return f"  {direction}{_range(width)} {name};"


def _range(width: int) -> str:
    return f" [{width - 1}:0]" if width > 1 else ""


def harness_verilog(top_verilog: str, top: str, *, last_bit: int, n_traces: int) -> str:
    """The harness module's Verilog for the accelerator module ``top`` in ``top_verilog``;
    ``last_bit``: the position of ``last`` in ``o__payload``; ``n_traces``: LIF layers."""
    ports = top_ports(top_verilog, top)
    widths = {name: width for _, width, name in ports}
    lines = [f"module {HARNESS}("]
    extra = ["fast", "stall_threshold", "stall_seed", "n_results", "done"]
    lines.append("  " + ", ".join([name for _, _, name in ports] + extra))
    lines.append(");")
    lines += [_declare(d, w, n) for d, w, n in ports]
    lines += [
        "  input fast;",
        "  input [16:0] stall_threshold;",
        "  input [31:0] stall_seed;",
        "  input [31:0] n_results;",
        "  output reg done;",
    ]
    p_width = widths["i__payload"]
    lines += [
        f"  wire {_range(p_width)} dut_i_payload;",
        "  wire dut_i_valid, dut_o_ready;",
        "  reg drv_valid, drv_ready;",
        f"  reg {_range(p_width)} tokens [0:{MAX_TOKENS - 1}];",
        "  reg [31:0] ptr, n_tokens, in_lfsr, out_lfsr, results;",
        "  reg [8*1024-1:0] tokens_file, log_file;",
        "  integer log;",
        "  assign dut_i_valid = fast ? drv_valid : i__valid;",
        f"  assign dut_i_payload = fast ? tokens[ptr[{MAX_TOKENS.bit_length() - 2}:0]] "
        ": i__payload;",
        "  assign dut_o_ready = fast ? drv_ready : o__ready;",
        "  initial begin",
        "    drv_valid = 0; drv_ready = 0; ptr = 0; results = 0; done = 0; n_tokens = 0;",
        "    in_lfsr = 1; out_lfsr = 1; log = 0;",
        '    if ($value$plusargs("tokens=%s", tokens_file)) $readmemh(tokens_file, tokens);',
        '    if (!$value$plusargs("n_tokens=%d", n_tokens)) n_tokens = 0;',
        '    if ($value$plusargs("log=%s", log_file)) log = $fopen(log_file, "w");',
        "  end",
        "  function [31:0] lfsr_next(input [31:0] s);",
        f"    lfsr_next = s[0] ? ((s >> 1) ^ 32'h{LFSR_MASK:08X}) : (s >> 1);",
        "  endfunction",
        "  wire in_idle = {1'b0, in_lfsr[15:0]} < stall_threshold;",
        "  wire out_idle = {1'b0, out_lfsr[15:0]} < stall_threshold;",
        "  always @(posedge clk) begin",
        "    if (!fast) begin",
        "      in_lfsr <= stall_seed | 32'h1;",
        "      out_lfsr <= ~stall_seed | 32'h1;",
        "    end else begin",
        "      in_lfsr <= lfsr_next(in_lfsr);",
        "      out_lfsr <= lfsr_next(out_lfsr);",
        "      drv_ready <= !out_idle;",
        "      if (drv_valid && i__ready) begin",
        "        ptr <= ptr + 1;",
        "        drv_valid <= (ptr + 1 < n_tokens) && !in_idle;",
        "      end else if (!drv_valid) begin",
        "        drv_valid <= (ptr < n_tokens) && !in_idle;",
        "      end",
    ]
    for l in range(n_traces):
        lines.append(
            f"      if (trace{l}__valid) "
            f'$fwrite(log, "t {l} %0d %0d\\n", trace{l}__eot, trace{l}__addr);'
        )
    lines += [
        '      if (stable__valid) $fwrite(log, "s %0d\\n", stable__addr);',
        '      if (noise__valid) $fwrite(log, "n %0d\\n", noise__addr);',
        "      if (o__valid && drv_ready) begin",
        '        $fwrite(log, "o %h\\n", o__payload);',
        f"        if (o__payload[{last_bit}]) begin",
        "          results <= results + 1;",
        "          if (results + 1 == n_results) begin done <= 1; $fflush(log); end",
        "        end",
        "      end",
        "    end",
        "  end",
    ]
    connections = []
    for _, _, name in ports:
        source = {
            "i__valid": "dut_i_valid",
            "i__payload": "dut_i_payload",
            "o__ready": "dut_o_ready",
        }.get(name, name)
        connections.append(f"    .{name}({source})")
    lines.append(f"  {top} accelerator (")
    lines.append(",\n".join(connections))
    lines += ["  );", "endmodule", ""]
    return "\n".join(lines)


def sample_tokens(shape, sample) -> list[int]:
    """The input words of one sample as raw ``i__payload`` integers: ``n_in`` intensities, or
    per timestep the addresses of its spikes, then an end-of-timestep word."""
    from hw.lif import event_layout

    if shape.encoder == "rate-lfsr":
        return [int(v) for v in sample]
    eot = 1 << event_layout(shape.sizes[0])["eot"].offset
    words = []
    for t in range(shape.timesteps):
        words += [int(a) for a in np.nonzero(sample[t])[0]] + [eot]
    return words


def write_tokens(path, shape, inputs) -> int:
    """Write every sample's input words to ``path`` for ``$readmemh``; returns their number."""
    words = [w for sample in inputs for w in sample_tokens(shape, sample)]
    Path(path).write_text("".join(f"{w:x}\n" for w in words))
    return len(words)
