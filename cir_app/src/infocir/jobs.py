"""Background jobs with progress for slow work the dashboard starts (explanations, LLM calls).

A job is a list of named steps run in order on a small worker pool; the browser polls
``status(job_id)`` and renders what is finished.  Job ids are random and only known to the
session that started the job, so sessions never see each other's work.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infocir.cache import BoundedCache

log = logging.getLogger(__name__)


@dataclass
class Job:
    steps: list[tuple[str, Callable[[], Any]]]
    done: int = 0
    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    finished: bool = False
    cancelled: bool = False
    progress: dict[str, Any] = field(default_factory=dict)  # steps may report finer progress here


class JobRunner:
    """Runs jobs on ``workers`` threads; keeps the last ``keep`` jobs for polling."""

    def __init__(self, workers: int = 1, keep: int = 128, describe_error: Callable[[BaseException], str] = str):
        # Daemon threads: a server shutting down must not wait for (or crash in) a half-done job.
        self._queue: queue.Queue[Job] = queue.Queue()
        for i in range(workers):
            threading.Thread(target=self._worker, name=f"infocir-job-{i}", daemon=True).start()
        # Evicted jobs are cancelled: nobody can poll them any more.
        self._jobs: BoundedCache[Job] = BoundedCache(keep, on_evict=lambda job: setattr(job, "cancelled", True))
        self._describe = describe_error

    def submit(self, steps: list[tuple[str, Callable[[], Any]]], progress: dict[str, Any] | None = None) -> str:
        """Start a job; returns its id at once.  ``progress`` is a dict the steps update while they
        run (e.g. {"done": 3, "total": 11}); pollers read it as ``job.progress``."""
        job_id = secrets.token_hex(8)
        job = Job(list(steps), progress=progress if progress is not None else {})
        self._jobs.put(job_id, job)
        self._queue.put(job)
        return job_id

    def _worker(self) -> None:
        while True:
            self._run(self._queue.get())

    def _run(self, job: Job) -> None:
        for name, fn in job.steps:
            if job.cancelled:
                break
            try:
                job.results[name] = fn()
            except Exception as exc:  # one failed step must not kill the job: the panel shows its message
                log.warning("job step %s failed: %s", name, exc, exc_info=not hasattr(exc, "user_message"))
                job.errors[name] = self._describe(exc)
            job.done += 1
        job.finished = True

    def get(self, job_id: str | None) -> Job | None:
        return self._jobs.get(job_id or "")

    def cancel(self, job_id: str | None) -> None:
        job = self.get(job_id)
        if job is not None:
            job.cancelled = True
