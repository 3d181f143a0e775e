"""RTL benchmarks, written to ``docs/results/``: cycles per inference against the event-driven
bound for several lane counts and simulation speed per simulator (``rtl-<model>.{md,json}``);
and, for several models of one shape, how firing turns into cycles (``sparsity-<name>``)."""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

from hw.layout import lanes_text
from sw.modelfile import atomic_write
from sw.report import invoked_command, markdown_table, report_header, write_report

from .runner import run_cosim

__all__ = ["bench_rtl", "bench_sparsity"]


def bench_rtl(
    model_path,
    *,
    lanes=(1, 4, 8, 16),
    samples=450,
    simulators=("verilator", "icarus"),
    icarus_samples=40,
    out_dir=Path("docs/results"),
    build_dir="build/sim",
):
    """Simulate ``model_path`` for every lane count on Verilator (cycles, bit-exactness) and on
    each simulator at one lane count (speed). Returns the rows and writes the report."""
    from tqdm import tqdm

    command = invoked_command()
    rows = []
    for p in tqdm(lanes, desc="lanes", unit="config"):
        r = run_cosim(
            model_path,
            simulator="verilator",
            samples=samples,
            lanes=p,
            build_dir=build_dir,
            tests=("inference",),
        )
        inf = r.inference
        rows.append(
            {
                "lanes": p,
                "samples": inf["samples"],
                "bit_exact": inf["errors"] == 0,
                "accuracy": inf["accuracy"],
                "cycles": inf["cycles_per_inference"],
                "bottleneck": r.bounds["bottleneck"],
                "sequential": r.bounds["sequential"],
                "units": r.bounds["units"],
            }
        )
    speed = []
    for sim in simulators:
        n = samples if sim == "verilator" else icarus_samples
        if n == 0:  # (``--icarus-samples 0``: no speed figure for that simulator)
            continue
        r = run_cosim(
            model_path,
            simulator=sim,
            samples=n,
            lanes=lanes[-1] if len(lanes) else 8,
            stall=0.3,
            build_dir=build_dir,
            tests=("inference",),
        )
        inf = r.inference
        speed.append(
            {
                "simulator": sim,
                "samples": n,
                "stall": 0.3,
                "bit_exact": inf["errors"] == 0,
                "seconds": inf["seconds"],
                "samples_per_second": n / inf["seconds"],
                "cycles_per_inference": inf["cycles_per_inference"],
                "build_seconds": r.build_seconds,
            }
        )
    name = Path(model_path).stem
    result = {
        "command": command,
        "date": time.strftime("%Y-%m-%d"),
        "model": str(model_path),
        "lanes": rows,
        "speed": speed,
    }
    write_report(out_dir / f"rtl-{name}", result, _markdown(result, name))
    return result


def _yes(exact: bool) -> str:
    return "yes" if exact else "NO"


def _markdown(result, name) -> str:
    lines = report_header(f"RTL: {name}", result["date"], result["command"]) + [
        "Cycles per inference on Verilator, samples streamed back to back without stalls "
        "(the hardware's own cycle counter), against the event-driven bound from the golden "
        "trace: *bottleneck* is the busiest unit's essential work (per LIF layer and "
        "timestep its input events' weight adds over `P` -- `k * ceil(n_out / P)` for `k` "
        "events into a dense layer, each event's reached positions times `C_out / P` in a "
        "conv layer -- and its update rows, a unit of their own since the update pass runs "
        "beside the next timestep's events (two accumulator banks); encoder `T * n_in` draws, "
        "the next sample loading meanwhile; readout one cycle per event), *sequential* all "
        "units' work added up. Goal: within 15 % of the bottleneck.",
        "",
    ]
    columns = [
        "lanes P",
        "samples",
        "bit-exact",
        "accuracy",
        "cycles / inference",
        "bottleneck bound",
        "ratio",
        "sequential work",
    ]
    rows = [
        [
            lanes_text(r["lanes"]),
            r["samples"],
            _yes(r["bit_exact"]),
            f"{100 * r['accuracy']:.2f} %",
            f"{r['cycles']:,.0f}",
            f"{r['bottleneck']:,.0f}",
            f"{r['cycles'] / r['bottleneck']:.2f}",
            f"{r['sequential']:,.0f}",
        ]
        for r in result["lanes"]
    ]
    lines += markdown_table(columns, rows)
    lines += [
        "",
        "Simulation speed (with 30 % random input gaps and output backpressure; 2-core machine):",
        "",
    ]
    columns = ["simulator", "samples", "bit-exact", "samples / s", "cycles / inference", "build s"]
    rows = [
        [
            s["simulator"],
            s["samples"],
            _yes(s["bit_exact"]),
            f"{s['samples_per_second']:.1f}",
            f"{s['cycles_per_inference']:,.0f}",
            f"{s['build_seconds']:.1f}",
        ]
        for s in result["speed"]
    ]
    lines += markdown_table(columns, rows)
    lines += [
        "",
        "For scale: the dense cost of the same net is `T * sum(n_in * n_out)` "
        "accumulates; Spiker+ (Artix-7) reports 780 us per MNIST image.",
        "",
    ]
    return "\n".join(lines)


def bench_sparsity(
    model_paths,
    *,
    name,
    lanes=16,
    update_lanes=None,
    samples=200,
    limit=None,
    data_root=None,
    board=None,
    out_dir=Path("docs/results"),
    build_dir="build/sim",
):
    """For models of one shape trained differently (e.g. baseline vs Stable Spike): accuracy,
    firing per layer and synaptic events on the golden model (test split, ``limit`` samples),
    and cycles per inference on Verilator (``samples``, bit-exact) against the bound. Writes
    ``sparsity-<name>.{md,json,png}``. ``update_lanes``: the update pass's (``None``: ``P``).
    ``data_root``: the dataset's folder (as ``eval``'s);
    ``board``: simulate the variant it builds (:func:`boards.variant.accelerator_variant`),
    else the default one."""
    from boards.variant import accelerator_variant
    from hw.layout import AcceleratorShape, AcceleratorVariant
    from sw.evaluate import evaluate_golden
    from sw.modelfile import load_model

    command = invoked_command()
    rows = []
    for path in model_paths:
        model = load_model(path)
        meta = model.meta
        variant = AcceleratorVariant()
        if board is not None:
            shape = AcceleratorShape.from_model(model, lanes=lanes, update_lanes=update_lanes)
            variant = accelerator_variant(board, shape)
        golden = evaluate_golden(path, limit=limit, data_root=data_root)
        r = run_cosim(
            path,
            simulator="verilator",
            samples=samples,
            lanes=lanes,
            update_lanes=update_lanes,
            build_dir=build_dir,
            data_root=data_root,
            tests=("inference",),
            variant=variant,
        )
        inf = r.inference
        rows.append(
            {
                "model": str(path),
                "method": meta.get("method", "-"),
                "float_accuracy": meta.get("float_accuracy"),
                "accuracy": golden["accuracy"],
                "test_samples": golden["samples"],
                "firing_rate": golden["firing_rate"],
                "synaptic_events_per_inference": golden["synaptic_events_per_inference"],
                "rtl_samples": inf["samples"],
                "bit_exact": inf["errors"] == 0,
                "cycles": inf["cycles_per_inference"],
                "bottleneck": r.bounds["bottleneck"],
                "units": r.bounds["units"],
            }
        )
    result = {
        "command": command,
        "date": time.strftime("%Y-%m-%d"),
        "lanes": lanes,
        "update_lanes": update_lanes,
        "board": None if board is None else board.name,
        "rows": rows,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"sparsity-{name}"
    _plot_sparsity(rows, stem.with_suffix(".png"), f"{name}, P={lanes_text(lanes)}")
    write_report(stem, result, _sparsity_markdown(result, name))
    return result


def _sparsity_markdown(result, name) -> str:
    first = result["rows"][0]
    lines = report_header(f"Sparsity to cycles: {name}", result["date"], result["command"]) + [
        "Golden model on the test split (accuracy, firing rate per LIF layer, synaptic events "
        "per inference; the float accuracy is the trained net's, before quantisation); "
        "RTL cycles per inference on Verilator at "
        f"P = {lanes_text(result['lanes'])}"
        + (f" (U = {lanes_text(result['update_lanes'])})" if result.get("update_lanes") else "")
        + (f" in the {result['board']} build's variant" if result.get("board") else "")
        + ", samples back to back, bit-exact against the golden model, "
        "against the bottleneck bound (the busiest unit's work). Relative columns: against "
        f"the first row ({Path(first['model']).name}).",
        "",
    ]
    columns = [
        "model",
        "method",
        "float",
        "golden",
        "firing per layer",
        "synaptic events",
        "rel.",
        "cycles",
        "rel.",
        "bottleneck",
        "cycles / bound",
        "bit-exact",
    ]
    events = "synaptic_events_per_inference"
    rows = [
        [
            Path(r["model"]).name,
            r["method"],
            _percent(r["float_accuracy"]),
            _percent(r["accuracy"]),
            " / ".join(f"{x:.3f}" for x in r["firing_rate"]),
            f"{r[events]:,.0f}",
            f"{r[events] / first[events]:.2f}",
            f"{r['cycles']:,.0f}",
            f"{r['cycles'] / first['cycles']:.2f}",
            f"{r['bottleneck']:,.0f}",
            f"{r['cycles'] / r['bottleneck']:.2f}",
            f"{_yes(r['bit_exact'])} ({r['rtl_samples']})",
        ]
        for r in result["rows"]
    ]
    lines += markdown_table(columns, rows)
    lines += ["", f"![sparsity](sparsity-{name}.png)", ""]
    return "\n".join(lines)


def _percent(fraction) -> str:
    """``fraction`` as a percentage with two decimals; a dash when a model file lacks it."""
    return "-" if fraction is None else f"{100 * fraction:.2f} %"


def _plot_sparsity(rows, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        x, y = r["synaptic_events_per_inference"], r["cycles"]
        ax.scatter([x], [y])
        ax.annotate(f"{Path(r['model']).stem} ({r['method']})", (x, y), fontsize=8)
    ax.set_xlabel("synaptic events / inference (golden)")
    ax.set_ylabel("RTL cycles / inference")
    ax.set_title(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write(path, buf.getvalue())


def bench_speed(
    model_path,
    *,
    lanes=8,
    samples=200,
    icarus_samples=40,
    stall=0.3,
    out_dir=Path("docs/results"),
    build_dir="build/sim",
):
    """Simulation and golden-model speed for one model: RTL samples/s and simulated cycles/s on
    Verilator and Icarus with Python driving every cycle and with the Verilog harness
    (:mod:`sim.harness`), both bit-exact; golden-model samples/s with float64 BLAS products
    (``numerics.exact_matmul``) and with int64 ones. Writes ``speed-<model>.{md,json}``."""
    import numpy as np

    from sw import golden, numerics
    from sw.evaluate import load_model_dataset
    from sw.modelfile import load_model

    command = invoked_command()
    rows = []
    for simulator, n in (("verilator", samples), ("icarus", icarus_samples)):
        for fast in (False, True):
            r = run_cosim(
                model_path,
                simulator=simulator,
                samples=n,
                lanes=lanes,
                stall=stall,
                build_dir=build_dir,
                tests=("inference",),
                fast=fast,
            )
            inf = r.inference
            rows.append(
                {
                    "simulator": simulator,
                    "driver": "harness" if fast else "python",
                    "samples": inf["samples"],
                    "bit_exact": inf["errors"] == 0,
                    "seconds": inf["seconds"],
                    "samples_per_s": inf["samples"] / inf["seconds"],
                    "cycles_per_s": inf["samples"] * inf["cycles_per_inference"] / inf["seconds"],
                }
            )
    model = load_model(model_path)
    x = load_model_dataset(model, model_path).test_x
    int64_matmul = lambda a, b: np.asarray(a, np.int64) @ np.asarray(b, np.int64)  # noqa: E731
    golden_rows = []
    for name, matmul in (("float64 BLAS", numerics.exact_matmul), ("int64", int64_matmul)):
        original, numerics.exact_matmul = numerics.exact_matmul, matmul
        try:
            t0 = time.perf_counter()
            scores = golden.run(model, x).scores
            seconds = time.perf_counter() - t0
        finally:
            numerics.exact_matmul = original
        golden_rows.append({"products": name, "samples": len(x), "samples_per_s": len(x) / seconds})
        golden_rows[-1]["scores_sha256"] = hashlib.sha256(scores.tobytes()).hexdigest()[:16]
    result = {
        "command": command,
        "date": time.strftime("%Y-%m-%d"),
        "model": str(model_path),
        "lanes": lanes,
        "stall": stall,
        "rtl": rows,
        "golden": golden_rows,
    }
    write_report(out_dir / f"speed-{Path(model_path).stem}", result, _speed_markdown(result))
    return result


def _speed_markdown(result) -> str:
    lines = report_header(
        f"Simulation speed: {Path(result['model']).name}", result["date"], result["command"]
    )
    lines += [
        f"RTL, P={lanes_text(result['lanes'])}, stall {result['stall']} on both streams, the "
        "inference test "
        "(every layer's spikes, skeleton, noise and scores checked):",
        "",
    ]
    columns = ["simulator", "driven by", "samples", "bit-exact", "samples/s", "simulated cycles/s"]
    rows = [
        [
            r["simulator"],
            r["driver"],
            r["samples"],
            _yes(r["bit_exact"]),
            f"{r['samples_per_s']:,.1f}",
            f"{r['cycles_per_s']:,.0f}",
        ]
        for r in result["rtl"]
    ]
    lines += markdown_table(columns, rows)
    lines += [
        "",
        "Golden model, the whole test split in one batch (the same scores both ways: the hash):",
        "",
    ]
    rows = [
        [r["products"], r["samples"], f"{r['samples_per_s']:,.0f}", f"`{r['scores_sha256']}`"]
        for r in result["golden"]
    ]
    lines += markdown_table(["products", "samples", "samples/s", "scores sha256"], rows)
    return "\n".join(lines) + "\n"
