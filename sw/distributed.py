"""Data-parallel training under ``torchrun``: which process this is, and the process group.

``torchrun --nproc-per-node N stablespike train ...`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address in their environment; without them
(a plain ``stablespike train``) this is one process of one, and nothing here does anything.

The maths (docs/training.md): each global batch of ``batch_size * N`` samples, drawn from the
same shuffled order on every process, is split into N contiguous chunks, one per process; every
process weights its loss by its chunk's share of the global batch, and DistributedDataParallel
averages the gradients, so a step is the step one process takes on the whole global batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["Processes", "from_environment"]


@dataclass(frozen=True)
class Processes:
    """This process's ``rank`` among ``world`` training processes."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """The process that evaluates, writes checkpoints and metrics and shows progress."""
        return self.rank == 0

    def wrap(self, net: torch.nn.Module) -> torch.nn.Module:
        """``net`` for the forward and backward passes: DistributedDataParallel when there are
        several processes (it averages the gradients), else ``net`` itself."""
        if self.world == 1:
            return net
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(net)

    def barrier(self):
        if self.world > 1:
            dist.barrier()

    def broadcast(self, value):
        """``value`` of the main process, on every process (any picklable object)."""
        if self.world == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self):
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def from_environment() -> Processes:
    """The processes ``torchrun`` started (the process group joined: gloo on the CPU, nccl
    when a GPU is there), or one process when it did not."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Processes()
    rank = int(os.environ["RANK"])
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Processes(rank, world)
