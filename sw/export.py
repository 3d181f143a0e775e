"""Freeze a trained run into an integer model file.

1. fix per-layer weight scales from the float weights (``scale = max|W| / (2**(bits-1) - 1)``),
   integer thresholds ``round(theta / scale)``;
2. quantisation-aware fine-tuning: the integer-exact forward with straight-through rounding,
   trained with the run's own loss (CE plus the Stable Spike terms it used);
3. freeze the integer weights into :class:`sw.golden.IntegerModel` and write the model file;
4. check that the golden model reproduces the quantised torch forward exactly on the test split.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from . import golden, numerics
from .modelfile import save_model
from .train import Trainer, evaluate_float, fixed_batches, load_run

__all__ = ["export_run", "quantized_equals_golden"]


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
    from tqdm import tqdm

    config, net, dataset = load_run(run_dir)
    float_acc = evaluate_float(net, dataset, config.timesteps, config.encoder_seed)["accuracy"]
    net.quantize(weight_bits=weight_bits, membrane_bits=membrane_bits)
    before = evaluate_float(net, dataset, config.timesteps, config.encoder_seed)["accuracy"]

    ft_config = replace(config, epochs=finetune_epochs, lr=lr)
    trainer = Trainer(ft_config, None, dataset=dataset, progress=False)
    trainer.net = net
    trainer.opt = torch.optim.Adam(net.parameters(), lr=lr)
    trainer.sched = torch.optim.lr_scheduler.CosineAnnealingLR(trainer.opt, max(finetune_epochs, 1))
    for epoch in tqdm(
        range(finetune_epochs), desc=f"QAT int{weight_bits}", disable=not progress, unit="epoch"
    ):
        trainer.train_epoch(epoch)
    quant_acc = evaluate_float(net, dataset, config.timesteps, config.encoder_seed)["accuracy"]

    if dataset.encoding == "rate":
        encoder = {
            "kind": "rate-lfsr",
            "seed": config.encoder_seed,
            "lfsr_width": 16,
            "prob_bits": numerics.PROB_BITS,
        }
    else:
        encoder = {"kind": "spikes"}
    noise_kind = config.noise_kind if config.noise_kind in golden.NOISE_KINDS else "amplitude"
    noise = {
        "kind": noise_kind,
        "seed": noise_seed,
        "lfsr_width": 16,
        "prob_shift": config.noise_prob_shift,
    }
    meta = {
        "dataset": config.dataset,
        "method": config.method,
        "arch": config.arch,
        "run": Path(run_dir).name,
        "float_accuracy": float_acc,
        "quantized_accuracy": quant_acc,
        "n_classes": dataset.n_classes,
    }
    model = net.to_integer_model(config.timesteps, encoder, noise, meta)
    checksum = save_model(model, out)

    test_x = dataset.test_x
    result = golden.run(model, test_x)
    golden_acc = float(np.mean(result.predictions == dataset.test_y))
    exact = quantized_equals_golden(net, model, dataset, config.timesteps, config.encoder_seed)
    return {
        "out": str(out),
        "checksum": checksum,
        "float_accuracy": float_acc,
        "quantized_before_finetune": before,
        "quantized_accuracy": quant_acc,
        "golden_accuracy": golden_acc,
        "golden_equals_torch": exact,
        "weight_bits": weight_bits,
        "timesteps": config.timesteps,
    }


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
            spikes
            if model.encoder["kind"] == "spikes"
            else dataset.test_x[seen : seen + len(spikes)],
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
