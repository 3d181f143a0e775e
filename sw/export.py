"""Freeze a trained run into an integer model file.

1. fix per-layer weight scales from the float weights (``scale = max|W| / (2**(bits-1) - 1)``),
   integer thresholds ``round(theta / scale)``;
2. quantisation-aware fine-tuning: the integer-exact forward with straight-through rounding,
   trained with the run's own loss (CE plus the Stable Spike terms it used);
3. freeze the integer weights into :class:`sw.integer_model.IntegerModel`;
4. check that the golden model reproduces the quantised torch forward exactly on the test split,
   and only then write the model file (verified under a temporary name, then renamed).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from . import golden, integer_model, numerics
from .modelfile import load_model, save_model, temporary_beside
from .train import Trainer, evaluate_float, fixed_batches, load_run

__all__ = ["export_run", "freeze_net", "quantized_equals_golden", "write_verified"]


def export_run(
    run_dir,
    out,
    *,
    weight_bits=8,
    membrane_bits=16,
    finetune_epochs=3,
    lr=3e-4,
    noise_seed=0xACE1 % 0xFFFE,
    progress=True,
) -> dict:
    """Quantise, fine-tune, freeze and write ``out``; returns a summary dict."""
    config, net, dataset = load_run(run_dir)
    meta = {
        "dataset": config.dataset,
        "method": config.method,
        "arch": config.arch,
        "run": Path(run_dir).name,
    }
    summary, _ = freeze_net(
        net,
        dataset,
        config,
        out,
        weight_bits=weight_bits,
        membrane_bits=membrane_bits,
        finetune_epochs=finetune_epochs,
        lr=lr,
        noise_seed=noise_seed,
        meta=meta,
        source=run_dir,
        progress=progress,
    )
    return summary


def freeze_net(
    net,
    dataset,
    config,
    out,
    *,
    weight_bits,
    membrane_bits,
    finetune_epochs,
    lr=3e-4,
    noise_seed=0xACE1 % 0xFFFE,
    meta,
    source,
    clip=None,
    progress=True,
) -> tuple[dict, integer_model.IntegerModel]:
    """Steps 1-4 of the module docstring for a float ``net`` trained on ``dataset`` with
    ``config`` (its loss, timesteps, encoder seed and noise settings); ``meta`` goes into the
    model file with the accuracies added, ``source`` names the net in warnings; ``clip``: the
    per-layer scale fractions of :meth:`sw.snn.SpikingNet.quantize`. Returns the summary and
    the frozen model (written to ``out`` only if ``golden_equals_torch``)."""
    from tqdm import tqdm

    float_acc = evaluate_float(net, dataset, config.timesteps, config.encoder_seed)["accuracy"]
    net.quantize(weight_bits=weight_bits, membrane_bits=membrane_bits, clip=clip)
    before = evaluate_float(net, dataset, config.timesteps, config.encoder_seed)["accuracy"]

    ft_config = replace(config, epochs=max(finetune_epochs, 1), lr=lr)  # validated: >= 1
    trainer = Trainer(ft_config, None, dataset=dataset, net=net, progress=False)
    for epoch in tqdm(
        range(finetune_epochs), desc=f"QAT int{weight_bits}", disable=not progress, unit="epoch"
    ):
        trainer.train_epoch(epoch)
    quant_acc = evaluate_float(net, dataset, config.timesteps, config.encoder_seed)["accuracy"]

    if dataset.encoding == "rate":
        encoder = integer_model.InputEncoder.rate(config.encoder_seed)
    else:
        encoder = integer_model.InputEncoder("spikes")
    noise_kind = config.noise_kind if config.noise_kind in golden.NOISE_KINDS else "amplitude"
    if noise_kind != config.noise_kind:
        warnings.warn(
            f"{source}: noise kind {config.noise_kind!r} has no integer form; the model file "
            f"gets 'amplitude' (docs/numerics.md, amplitude-aware noise)",
            stacklevel=2,
        )
    noise = integer_model.NoiseSource(
        noise_kind, noise_seed, numerics.NOISE_LFSR_WIDTH, config.noise_prob_shift
    )
    meta = {
        **meta,
        "float_accuracy": float_acc,
        "quantized_accuracy": quant_acc,
        "n_classes": dataset.n_classes,
    }
    model = net.to_integer_model(config.timesteps, encoder, noise, meta)
    exact = quantized_equals_golden(net, model, dataset, config.timesteps, config.encoder_seed)
    result = golden.run(model, dataset.test_x)
    golden_acc = float(np.mean(result.predictions == dataset.test_y))
    checksum = write_verified(model, out, dataset.test_x, result.scores) if exact else None
    summary = {
        "out": str(out) if exact else None,
        "checksum": checksum,
        "float_accuracy": float_acc,
        "quantized_before_finetune": before,
        "quantized_accuracy": quant_acc,
        "golden_accuracy": golden_acc,
        "golden_equals_torch": exact,
        "weight_bits": weight_bits,
        "timesteps": config.timesteps,
        "noise_kind": noise_kind,
    }
    return summary, model


def write_verified(model: integer_model.IntegerModel, out, inputs, scores) -> str:
    """Write ``model`` to ``out`` only once the file, read back, gives ``scores`` on ``inputs``:
    it is written under a temporary name in the same folder, loaded, run and renamed (the
    temporary file is removed on any error or interruption). Returns the checksum."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(out, ".verify.npz")
    os.close(fd)
    try:
        checksum = save_model(model, tmp)
        if not np.array_equal(golden.run(load_model(tmp), inputs).scores, scores):
            raise RuntimeError(f"{out}: the written model file does not reproduce the model")
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return checksum


@torch.no_grad()
def quantized_equals_golden(net, model, dataset, timesteps, encoder_seed, limit=None) -> bool:
    """True if spikes, membranes and integer scores of the quantised torch forward equal the
    golden model's on the test split (first ``limit`` samples)."""
    net.eval()
    seen = 0
    for spikes, _ in fixed_batches(dataset, "test", 256, timesteps, encoder_seed):
        if limit is not None and seen >= limit:
            break
        out = net(torch.from_numpy(spikes).float(), record=True)
        ref = golden.run(
            model,
            spikes if model.encoder.kind == "spikes" else dataset.test_x[seen : seen + len(spikes)],
            trace=True,
        )
        seen += len(spikes)
        for s, v, gs, gv in zip(out["spikes"], out["membranes"], ref.spikes, ref.membranes):
            if not (
                np.array_equal(s.transpose(0, 1).numpy().astype(np.uint8), gs)
                and np.array_equal(v.transpose(0, 1).numpy().astype(np.int64), gv)
            ):
                return False
        scores = net.integer_scores(out["hidden"].sum(0), timesteps).numpy().astype(np.int64)
        if not np.array_equal(scores, ref.scores):
            return False
    net.train()
    return True
