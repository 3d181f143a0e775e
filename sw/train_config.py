"""The settings of a training run (``config.json``) and the names they may take: pure Python,
so that the command line builds its options without importing torch."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

__all__ = ["METHODS", "VARIANTS", "SKELETON_OPS", "NOISE_KINDS", "NOISE_SOURCES", "TrainConfig"]

#: Method presets: which of the two Stable Spike losses are on.
METHODS = {
    "baseline": (False, False),
    "stablespike": (True, True),
    "spike-only": (True, False),
    "noise-only": (False, True),
}

#: The benchmark's variants: name -> :class:`TrainConfig` overrides (the four methods first).
VARIANTS = {
    "baseline": {"method": "baseline"},
    "stablespike": {"method": "stablespike"},
    "spike-only": {"method": "spike-only"},
    "noise-only": {"method": "noise-only"},
    "or-skeleton": {"method": "stablespike", "skeleton_op": "or"},
    "xor-skeleton": {"method": "stablespike", "skeleton_op": "xor"},
    "fixed-noise": {"method": "stablespike", "noise_kind": "fixed"},
    "gaussian-noise": {"method": "stablespike", "noise_kind": "gaussian"},
    "layer-mean-noise": {"method": "stablespike", "noise_kind": "layer-mean"},
    "half-noise": {"method": "stablespike", "noise_prob_shift": 1},
    "lfsr-noise": {"method": "stablespike", "noise_source": "lfsr"},
}

#: How adjacent timesteps combine into the skeleton (the paper's: ``and``).
SKELETON_OPS = ("and", "or", "xor")
#: The training spike noise's kinds (:func:`sw.losses.spike_noise`); the hardware has the first
#: two (``sw.numerics.NOISE_KINDS``).
NOISE_KINDS = ("amplitude", "fixed", "gaussian", "layer-mean")
#: Where the training noise's draws come from: torch's generator, or the contract's LFSR.
NOISE_SOURCES = ("torch", "lfsr")


@dataclass
class TrainConfig:
    """Every setting of a training run (saved as ``config.json``)."""

    dataset: str = "digits"
    method: str = "stablespike"
    timesteps: int = 2
    epochs: int = 30
    seed: int = 0
    arch: str = "mlp:128"
    batch_size: int = 32
    lr: float = 1e-2
    leak_shift: int = 2
    reset: str = "hard"
    beta: float = 1.0
    gamma: float = 1.0
    alpha: float = 2.0
    skeleton_op: str = "and"
    skeleton_all_layers: bool = False
    detach_stable: bool = True
    noise_kind: str = "amplitude"
    noise_scale: float = 1.0
    noise_prob_shift: int = 0
    noise_source: str = "torch"
    encoder_seed: int = 1
    limit_train: int | None = None
    skip_train: int = 0
    augment_shift: int = 0
    init_from: str | None = None
    data_root: str | None = None
    extra: dict = field(default_factory=dict)

    def validate(self):
        self._check_types()
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {tuple(METHODS)}, not {self.method!r}")
        if self.timesteps < 1:
            raise ValueError(f"timesteps must be at least 1, not {self.timesteps!r}")
        if self.method != "baseline" and self.timesteps < 2:
            raise ValueError(
                f"method {self.method!r} needs at least 2 timesteps (the skeleton "
                f"ANDs adjacent steps); use --method baseline for T=1"
            )
        if self.skeleton_op not in SKELETON_OPS:
            raise ValueError(f"skeleton op must be one of {SKELETON_OPS}, not {self.skeleton_op!r}")
        if self.noise_kind not in NOISE_KINDS:
            raise ValueError(f"noise kind must be one of {NOISE_KINDS}, not {self.noise_kind!r}")
        if self.noise_source not in NOISE_SOURCES:
            raise ValueError(
                f"noise source must be one of {NOISE_SOURCES}, not {self.noise_source!r}"
            )
        whole = {
            "epochs": (self.epochs, 1, 100_000),
            "batch_size": (self.batch_size, 1, 1 << 20),
            "seed": (self.seed, 0, (1 << 31) - 1),
            "encoder_seed": (self.encoder_seed, 0, (1 << 31) - 1),
            "leak_shift": (self.leak_shift, 1, 30),
            "noise_prob_shift": (self.noise_prob_shift, 0, 16),
            "skip_train": (self.skip_train, 0, 1 << 31),
            "augment_shift": (self.augment_shift, 0, 16),
        }
        if self.limit_train is not None:
            whole["limit_train"] = (self.limit_train, 1, 1 << 31)
        for name, (value, lo, hi) in whole.items():
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"{name} must be an integer in {lo}..{hi}, not {value!r}")
        for name in ("lr", "alpha"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)!r}")
        for name in ("beta", "gamma", "noise_scale"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be at least 0, not {getattr(self, name)!r}")

    def _check_types(self):
        """Each field of the type it is declared with; numbers finite (``inf`` and ``nan``
        would train to a NaN loss)."""
        for f in fields(self):
            value, declared = getattr(self, f.name), str(f.type)
            if value is None and "None" in declared:
                continue
            kind = declared.split("|")[0].strip()
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = {
                "int": number and isinstance(value, int),
                "float": number and math.isfinite(value),
                "str": isinstance(value, str),
                "bool": isinstance(value, bool),
                "dict": isinstance(value, dict),
            }[kind]
            if not ok:
                what = {"float": "a finite number", "int": "an integer", "str": "a string",
                        "bool": "true or false", "dict": "an object"}[kind]  # fmt: skip
                raise ValueError(f"{f.name} must be {what}, not {value!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """A config from ``config.json``'s object, checked (ValueError naming the field)."""
        if not isinstance(d, dict):
            raise ValueError(f"expected an object of settings, found {type(d).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown config fields {sorted(unknown)}")
        config = cls(**d)
        config.validate()
        return config
