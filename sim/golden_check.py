"""One sample of the accelerator's output against the golden model's trace: the comparison both
the cocotb testbench (:mod:`sim.tb_accelerator`) and the Amaranth-simulator tests make."""

from __future__ import annotations

import numpy as np

__all__ = ["sample_mismatches"]


def sample_mismatches(golden, sample: int, got: dict, *, skeleton: bool, noise: bool) -> list[str]:
    """What differs in ``sample``, one message each (empty: bit-exact).

    ``golden`` holds the trace as :class:`sw.golden.GoldenResult` does: ``spikes`` (per layer
    ``[N, T, n]``), ``skeleton`` ``[N, T-1, n]``, ``noise`` ``[N, n]``, ``scores`` ``[N, C]``
    and ``predictions`` ``[N]``. ``got`` is what the RTL emitted: ``spikes`` (per layer, per
    timestep, the firing neurons), ``stable`` and ``noise`` (neuron numbers), ``scores`` and
    ``cls``. ``skeleton`` and ``noise`` say whether the stable and noise spikes are compared
    (the modes that emit them).
    """
    messages = []
    for layer, spikes in enumerate(golden.spikes):
        for t in range(spikes.shape[1]):
            expected = set(np.nonzero(spikes[sample, t])[0].tolist())
            seen = set(got["spikes"][layer][t])
            if expected != seen:
                neuron = min(expected ^ seen)
                messages.append(
                    f"sample {sample}: layer {layer}, timestep {t}, neuron {neuron}: "
                    f"golden {'fires' if neuron in expected else 'silent'}, "
                    f"RTL {'fires' if neuron in seen else 'silent'}"
                )
    if skeleton:
        expected = sorted(np.nonzero(golden.skeleton[sample])[1].tolist())
        if sorted(got["stable"]) != expected:
            messages.append(
                f"sample {sample}: skeleton: golden stable spikes {expected}, "
                f"RTL {sorted(got['stable'])}"
            )
    if noise:
        expected = np.nonzero(golden.noise[sample])[0].tolist()
        if sorted(got["noise"]) != expected:
            messages.append(
                f"sample {sample}: noise: golden {expected}, RTL {sorted(got['noise'])}"
            )
    scores = golden.scores[sample].tolist()
    if got["scores"] != scores or got["cls"] != golden.predictions[sample]:
        messages.append(
            f"sample {sample}: outputs: golden scores {scores} class "
            f"{golden.predictions[sample]}, RTL {got['scores']} class {got['cls']}"
        )
    return messages
