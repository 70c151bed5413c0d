"""A training loop's host work (batch sampling, captions, tokenising) done ahead by worker processes.

On the H200 a teacher step took about 120 ms, of which sampling and tokenising its 256 captions is
host work that the GPU waits for (42–65 ms on one core here, ``benchmarks/train_host_work.py``).
``StepBatches`` runs that work for the coming steps in worker processes while the device trains on the
current one.  Every step seeds
its own generator, so a step's batch depends on the step alone and is the same with workers or
without; a loop that resumes at another step starts the workers there.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

log = logging.getLogger("infocir.prefetch")


class _Steps(Dataset):
    """Steps ``start`` … ``end - 1`` as a dataset whose item ``i`` is ``make(start + i)``."""

    def __init__(self, make: Callable[[int], Any], start: int, end: int):
        self.make, self.start, self.end = make, start, end

    def __len__(self) -> int:
        return self.end - self.start

    def __getitem__(self, i: int) -> Any:
        return self.make(self.start + i)


def default_workers(device: torch.device | str, requested: int = -1) -> int:
    """Worker processes for a loop on ``device``: ``requested`` when it is 0 or more; else none on the CPU,
    where they would take the cores the model trains on, and on a GPU up to 3 of the cores beyond the one
    that drives it."""
    if requested >= 0:
        return requested
    if torch.device(device).type == "cpu":
        return 0
    return max(0, min(3, (os.cpu_count() or 1) - 1))


class StepBatches:
    """``batches(step)`` is ``make(step)``, computed ahead by ``workers`` processes (inline with 0).

    ``make`` must be host work only (no CUDA: the workers are forked from a process that holds the
    device) and must depend on ``step`` alone.  Steps are asked for in order from any start below
    ``end``; asking for another step than the next one restarts the workers there.  Workers that die
    or give nothing for ``timeout`` seconds (a small shared-memory mount, a hung fork) are given up:
    the batches are then made inline, the same batches, and the run goes on.
    """

    def __init__(self, make: Callable[[int], Any], end: int, workers: int = 0, ahead: int = 2, timeout: float = 120):
        self.make, self.end, self.workers, self.ahead, self.timeout = make, end, workers, ahead, timeout
        self._items: Iterator[Any] | None = None
        self._next = -1

    def __call__(self, step: int) -> Any:
        if not 0 <= step < self.end:
            raise IndexError(f"step {step} is outside 0 … {self.end - 1}")
        if self.workers == 0:
            return self.make(step)
        if self._items is None or step != self._next:
            loader = DataLoader(
                _Steps(self.make, step, self.end),
                batch_size=None,
                num_workers=self.workers,
                prefetch_factor=self.ahead,
                multiprocessing_context="fork",  # the pools are inherited, not pickled
                timeout=self.timeout,
            )
            self._items = iter(loader)
        self._next = step + 1
        try:
            return next(self._items)
        except RuntimeError as e:  # the DataLoader's word for a worker that died or timed out
            log.warning("batch workers failed (%s): making the batches inline from step %d on", e, step)
            self.workers, self._items = 0, None
            return self.make(step)
