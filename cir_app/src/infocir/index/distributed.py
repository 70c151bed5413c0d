"""Index building on Ray Data: ``build-index --distributed ray [--address auto] [--ray-workers N]``.

The build is ``store.build_index`` with one part replaced: the encoding of the chunks.  The plan, the lock, the
resume of an interrupted build, the merge of the chunk files and the manifest are the single-process build's, so
the index is the same files in the same format (memory-mapped on load) and either build resumes the other's
``.partial`` folder.  Like clip-retrieval, reader → mapper → writer:

* reader: a Ray Data dataset with one row per chunk still to encode (its number, its first record position and the
  paths of its images), in blocks of a few chunks;
* mapper: ``map_batches`` with ``ChunkEncoder``, a callable class run by a fixed pool of actors
  (``--ray-workers``; by default one per GPU the cluster reports, else one per CPU), one GPU each when the cluster
  has GPUs.  Each actor loads the model once from the configuration (``ModelConfig``, passed as data: the embedded
  demo weights resolve on the worker's own installation), checks that its weights are the driver's, then decodes
  and preprocesses through the build's own ``decoded_batches`` (``open_rgb``: an undecodable file is a failure of
  that row, never of the build) and encodes.  It returns one row per image: record position, raw feature, error;
* writer: the driver collects the rows of each chunk and saves the chunk file (``store._save_chunk``) as soon as its
  last row arrives, so a build interrupted on a cluster resumes from the chunks already saved.

Images must be readable at the same paths on every node (a shared file system); the index is written on the
driver's machine only.  The manifest's ``source`` records that Ray built it (``{"encoder": "ray", ...}``); the key
does not, so the index is interchangeable with a single-process build of the same key.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from infocir.config import AppConfig, ModelConfig
from infocir.data.scan import ImageRecord, ScanResult
from infocir.errors import UserError
from infocir.index.manifest import IndexManifest
from infocir.index.store import _save_chunk, build_batches, build_index, decoded_batches
from infocir.models.encoders import ClipBundle, ModelLoadError
from infocir.models.encoding import encode_pixels

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'infocir[distributed]'"
# The object store of a Ray started here (no --address): rows of paths go in, features (chunk_size × dim × 4 bytes
# per chunk, 2 MB at 1024 × 512) come out; Ray Data's backpressure keeps what is in flight under this.
LOCAL_OBJECT_STORE_BYTES = 512 * 2**20
# The whole pool is started (each actor's model loaded) before the first block is handed out, so that the first
# actor up does not take every block of a small build; a pool that cannot start in this time is an error.
ACTOR_START_TIMEOUT_S = 600
CHUNKS_PER_BLOCK = 4  # the reader's block (4,096 images at the default chunk_size): the unit of work of one actor


class RayBuildError(UserError, RuntimeError):
    """Ray is missing, cannot be reached, or cannot run the pool asked for (the message says how to fix it)."""


def import_ray() -> Any:
    """The ``ray`` module with Ray Data, or RayBuildError naming the extra that installs it."""
    try:
        import ray
        import ray.data  # noqa: F401 - ray without its [data] extra has no Ray Data
    except ImportError as exc:
        raise RayBuildError(
            f"build-index --distributed ray needs Ray Data, which is not installed ({exc}). Install it with: "
            f"{INSTALL_HINT}"
        ) from None
    return ray


@contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray for the build: the session already open in this process if there is one (left open), else a local Ray
    started here (``address`` None: ``num_cpus`` CPUs, a modest object store, no dashboard) or a connection to the
    cluster at ``address`` ("auto", "host:port", "ray://host:10001"); what is started or connected here is shut
    down at the end."""
    ray = import_ray()
    unreachable = _unreachable(address) if address else None
    if unreachable:  # (Ray itself would wait for a head node at a wrong address for minutes)
        raise RayBuildError(
            f"Could not reach the Ray cluster at {address!r} ({unreachable}). Start it first (`ray start --head` on "
            "the head node), check the address and port, or leave --address out to use a local Ray."
        )
    if ray.is_initialized():
        yield ray
        return
    common = {"ignore_reinit_error": True, "log_to_driver": False}
    if not log.isEnabledFor(logging.DEBUG):
        logging.getLogger("ray").setLevel(logging.WARNING)  # "Started a local Ray instance", ... (-v shows them)
    try:
        if address is None:
            ray.init(
                num_cpus=num_cpus or os.cpu_count() or 1,
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                include_dashboard=False,
                **common,
            )
        else:
            ray.init(address=address, **common)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
        hint = (
            " Start the cluster first (`ray start --head` on the head node, `ray start --address HEAD:6379` on the "
            "others), or leave --address out to use a local Ray."
            if address
            else ""
        )
        raise RayBuildError(f"Could not start or reach {where}: {exc}.{hint}") from None
    if not log.isEnabledFor(logging.DEBUG):
        # Ray Data's per-dataset lines, and a worker's error with its trace: the error itself is raised here (a
        # user error as one line in the CLI); Ray Data's log files under /tmp/ray keep everything
        logging.getLogger("ray.data").setLevel(logging.CRITICAL)
    try:
        yield ray
    finally:
        ray.shutdown()


def _unreachable(address: str, timeout_s: float = 5.0) -> str | None:
    """Why nothing answers at a "HOST:PORT" or "ray://HOST:PORT" address (None when something does, or when the
    address is not of that form, e.g. "auto": Ray resolves it)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            return None
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__


@dataclass(frozen=True)
class ActorPlan:
    """The actor pool: how many, the resources of each, and how each decodes and encodes."""

    workers: int
    device: str  # "cuda" (one GPU per actor) or "cpu"
    num_cpus: int
    num_gpus: int
    threads: int  # torch intra-op threads of a CPU actor
    decode_workers: int  # DataLoader processes inside an actor (a GPU actor decodes beside its encoder)

    def describe(self) -> str:
        each = f"1 GPU + {self.num_cpus} CPU" if self.num_gpus else f"{self.num_cpus} CPU"
        return f"{self.workers} actor(s), {each} each, on {self.device}"


def plan_actors(nodes: list[dict[str, float]], device: str, workers: int | None, num_workers: int = -1) -> ActorPlan:
    """The pool for the alive nodes' resources (``ray.nodes()[i]["Resources"]``): one actor per GPU when the
    cluster has GPUs and ``model.device`` allows them, else one per CPU; ``workers`` (``--ray-workers``) sets the
    count.  A CPU actor gets as many CPUs (its torch threads) as leave room for the whole pool on the nodes; a GPU
    actor its node's CPUs per GPU, all but one of them decoding (``num_workers`` ≥ 0: that many instead)."""
    device = (device or "auto").lower()
    gpu_nodes = [n for n in nodes if n.get("GPU", 0) >= 1]
    total_cpus = int(sum(n.get("CPU", 0) for n in nodes))
    if device.startswith("cuda") and not gpu_nodes:
        raise RayBuildError(
            f"model.device={device!r} asks for a GPU but the Ray cluster reports none; use model.device=auto or cpu."
        )
    if workers is not None and workers < 1:
        raise RayBuildError(f"--ray-workers must be at least 1, got {workers}.")
    if gpu_nodes and (device in ("auto", "cuda") or device.startswith("cuda:")):
        total_gpus = int(sum(n["GPU"] for n in gpu_nodes))
        n = workers or total_gpus
        if n > total_gpus:
            raise RayBuildError(
                f"--ray-workers {n} asks for {n} GPU actors but the Ray cluster has {total_gpus} GPU(s)."
            )
        cpus = max(1, min(int(nd.get("CPU", 1) // nd["GPU"]) for nd in gpu_nodes))
        decode = num_workers if num_workers >= 0 else min(cpus - 1, 8)
        return ActorPlan(n, "cuda", cpus, 1, 1, decode)
    n = workers or max(1, total_cpus)
    if n > max(1, total_cpus):
        raise RayBuildError(
            f"--ray-workers {n} asks for {n} actors of 1 CPU but the Ray cluster has {total_cpus} CPU(s)."
        )
    # the most CPUs per actor with which all n actors still fit on the nodes as they are
    cpus = next(
        c for c in range(max(1, total_cpus // n), 0, -1) if sum(int(nd.get("CPU", 0)) // c for nd in nodes) >= n
    )
    return ActorPlan(n, "cpu", cpus, 0, cpus, max(num_workers, 0))


class ChunkEncoder:
    """The mapper: one instance per actor, called with batches of chunk rows (``chunk``, ``start``, ``paths``).

    Built once per actor: the model from ``model`` (the configuration's model section, with the actor's device),
    refused when its weights or preprocessing are not the driver's (``expect``: a node with other weights files
    would otherwise write another model's features into the index)."""

    def __init__(
        self,
        model: ModelConfig,
        expect: dict[str, Any],
        device: str,
        threads: int,
        batch_size: int,
        decode_workers: int,
        max_pixels: int | None,
    ):
        self.batch_size, self.decode_workers, self.max_pixels = batch_size, decode_workers, max_pixels
        # A model that cannot load here, or is not the driver's, is raised by the first call: Ray hands a call's
        # error back as itself (one line in the CLI), a constructor's only as the text of an ActorDiedError.
        self.error: UserError | None = None
        try:
            self.bundle = self._load(model, expect, device, threads)
        except UserError as exc:
            self.error = exc

    @staticmethod
    def _load(model: ModelConfig, expect: dict[str, Any], device: str, threads: int) -> ClipBundle:
        import torch

        from infocir.engine import bundle_for

        if device == "cpu":
            torch.set_num_threads(max(1, threads))
        bundle = bundle_for(AppConfig(model=replace(model, device=device)))
        got = {"weights_hash": bundle.weights_hash, "preprocess": bundle.preprocess_id, "dim": bundle.embed_dim}
        if got != expect:
            raise ModelLoadError(
                f"The model loaded on Ray worker {socket.gethostname()} (pid {os.getpid()}) is not the driver's: "
                f"{got} != {expect}. Install the same weights at the same path on every node."
            )
        return bundle

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.error is not None:
            raise self.error
        began = time.time()
        chunks, positions, feats, errors = [], [], [], []
        dim = self.bundle.embed_dim
        for c, start, paths in zip(batch["chunk"], batch["start"], batch["paths"], strict=True):
            # positions inside the chunk; ids are the driver's (it names the failures)
            records = [ImageRecord(id=str(i), path=str(p), class_name="") for i, p in enumerate(paths)]
            # the single-process build's batches: a chunk in batches of batch_size, decoded by open_rgb
            batches = build_batches(len(records), len(records), self.batch_size, set())
            for pixels, kept, bad in decoded_batches(
                self.bundle, records, batches, self.decode_workers, self.max_pixels
            ):
                if pixels is not None:
                    feats.append(encode_pixels(self.bundle, pixels))
                    positions += [int(start) + i for i in kept]
                    errors += [""] * len(kept)
                if bad:
                    feats.append(np.zeros((len(bad), dim), np.float32))
                    positions += [int(start) + i for i, _ in bad]
                    errors += [err or "unreadable" for _, err in bad]
                chunks += [int(c)] * (len(kept) + len(bad))
        n = len(positions)
        return {
            "chunk": np.array(chunks, np.int64),
            "pos": np.array(positions, np.int64),
            "feat": np.concatenate(feats) if feats else np.zeros((0, dim), np.float32),
            "error": np.array(errors, dtype=object),
            "node": np.array([socket.gethostname()] * n, dtype=object),
            "pid": np.full(n, os.getpid(), np.int64),
            "began": np.full(n, began),
            "ended": np.full(n, time.time()),
        }


def _chunk_rows(records: list[ImageRecord], chunk_size: int, todo: list[int]) -> list[dict[str, Any]]:
    """The reader's rows: one per chunk to encode."""
    rows = []
    for c in todo:
        lo, hi = c * chunk_size, min(len(records), (c + 1) * chunk_size)
        rows.append({"chunk": c, "start": lo, "paths": [r.path for r in records[lo:hi]]})
    return rows


class _ChunkWriter:
    """The writer: collects the rows of each chunk (they arrive in any order) and saves the chunk file, as the
    single-process build writes it, when the last one is in."""

    def __init__(self, records: list[ImageRecord], partial: Path, chunk_size: int, dim: int, todo: list[int]):
        self.records, self.partial, self.chunk_size, self.dim = records, partial, chunk_size, dim
        self.missing = {c: min(len(records), (c + 1) * chunk_size) - c * chunk_size for c in todo}
        self.pending: dict[int, list[tuple[int, np.ndarray | None, str]]] = {}
        self.actors: set[tuple[str, int]] = set()
        self.busy = (float("inf"), 0.0)  # the actors' first call started, last call ended (time.time())

    def add(self, batch: dict[str, np.ndarray]) -> int:
        for c, pos, feat, err in zip(batch["chunk"], batch["pos"], batch["feat"], batch["error"], strict=True):
            c = int(c)
            self.pending.setdefault(c, []).append((int(pos), None if err else feat, str(err)))
            self.missing[c] -= 1
            if self.missing[c] == 0:
                self._save(c, self.pending.pop(c))
        self.actors |= {(str(n), int(p)) for n, p in zip(batch["node"], batch["pid"], strict=True)}
        if len(batch["pos"]):
            self.busy = (min(self.busy[0], float(batch["began"].min())), max(self.busy[1], float(batch["ended"].max())))
        return len(batch["pos"])

    def _save(self, c: int, rows: list[tuple[int, np.ndarray | None, str]]) -> None:
        rows.sort(key=lambda r: r[0])  # record order, as the single-process build saves a chunk
        good = [(p, f) for p, f, _ in rows if f is not None]
        feats = [np.stack([f for _, f in good]).astype(np.float32)] if good else []
        failed = [(self.records[p].id, err) for p, f, err in rows if f is None]
        _save_chunk(self.partial / f"chunk_{c:05d}.npz", feats, [p for p, _ in good], failed, self.dim)

    def check_complete(self) -> None:
        short = {c: n for c, n in self.missing.items() if n}
        if short:
            raise RayBuildError(
                f"Ray Data returned no result for {sum(short.values())} images of chunks {sorted(short)[:5]}."
            )


class RayIndexBuilder:
    """``build_index`` on Ray Data: pass ``build`` as ``load_or_build``'s (or ``RetrievalEngine.from_config``'s)
    ``builder``.  ``model``: the configuration's model section, which every actor loads; ``address``: None for a
    local Ray, "auto" or an address for a cluster; ``workers``: the actor pool size (default: one per GPU, else
    per CPU).  After a build, ``actors`` holds the (node, pid) of each actor that encoded and ``source`` what the
    manifest recorded, and ``busy_s`` the seconds from the first call of an actor to the end of the last (the
    actors' clocks: the pool's work without its start, for ``benchmarks/distributed_build.py``)."""

    def __init__(self, model: ModelConfig, address: str | None = None, workers: int | None = None):
        self.model, self.address, self.workers = model, address, workers
        self.actors: set[tuple[str, int]] = set()
        self.source: dict[str, Any] = {}
        self.busy_s = 0.0

    def build(
        self,
        bundle: ClipBundle,
        scan: ScanResult,
        out_dir: Path,
        dtype: str = "float16",
        batch_size: int = 64,
        chunk_size: int = 1024,
        progress: bool = True,
        num_workers: int = -1,
        max_pixels: int | None = None,
        fresh: bool = False,
    ) -> IndexManifest:
        import_ray()  # before the lock and the plan: a missing extra is reported at once
        self.actors, self.source = set(), {"encoder": "ray"}
        self.busy_s = 0.0
        return build_index(
            bundle,
            scan,
            out_dir,
            dtype,
            batch_size,
            chunk_size,
            progress,
            num_workers,
            max_pixels,
            fresh,
            encode=self.encode_chunks,
            source=self.source,
        )

    def encode_chunks(
        self,
        bundle: ClipBundle,
        records: list[ImageRecord],
        partial: Path,
        chunk_size: int,
        batch_size: int,
        done: list[int],
        num_workers: int,
        max_pixels: int | None,
        progress: bool,
    ) -> float:
        """``store.ChunkEncoder`` on Ray: every chunk not in ``done`` encoded by the actor pool, saved by the driver."""
        n_chunks = (len(records) + chunk_size - 1) // chunk_size
        todo = [c for c in range(n_chunks) if c not in set(done)]
        self.source.update({"chunks": n_chunks, "chunks_resumed": n_chunks - len(todo)})
        if not todo:
            return 0.0
        local_cpus = max(os.cpu_count() or 1, self.workers or 0)  # a requested pool fits in a local Ray
        with ray_session(self.address, local_cpus) as ray:
            nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
            plan = plan_actors(nodes, self.model.device, self.workers, num_workers)
            log.info("Encoding %d chunks on Ray (%s; %d node(s)).", len(todo), plan.describe(), len(nodes))
            t0 = time.time()
            writer = _ChunkWriter(records, partial, chunk_size, bundle.embed_dim, todo)
            rows = _chunk_rows(records, chunk_size, todo)
            self._run(ray, bundle, rows, batch_size, max_pixels, plan, writer, progress)
            elapsed = time.time() - t0
            self.actors = writer.actors
            self.source.update(
                {
                    "ray": str(ray.__version__),
                    "address": self.address or "local",
                    "nodes": len({n for n, _ in writer.actors}),
                    "actors": len(writer.actors),
                    "device": plan.device,
                }
            )
        return elapsed

    def _run(
        self,
        ray: Any,
        bundle: ClipBundle,
        rows: list[dict[str, Any]],
        batch_size: int,
        max_pixels: int | None,
        plan: ActorPlan,
        writer: _ChunkWriter,
        progress: bool,
    ) -> None:
        """Reader → mapper (the actor pool) → writer (this process), with a bar over the images."""
        from tqdm import tqdm

        bar = tqdm(
            total=sum(len(r["paths"]) for r in rows), unit="img", desc="Encoding images (Ray)", disable=not progress
        )
        # (a dataset copies the DataContext when it is made: set before)
        settings = {"wait_for_min_actors_s": ACTOR_START_TIMEOUT_S, "raise_original_map_exception": True}
        error: BaseException | None = None
        try:
            with _data_context(ray, **settings):
                for out in self._mapped(ray, bundle, rows, batch_size, max_pixels, plan).iter_batches(
                    batch_size=None, batch_format="numpy"
                ):
                    bar.update(writer.add(out))
        except ray.exceptions.RayError as exc:
            error = _user_error_inside(exc)  # e.g. a worker whose model is not the driver's: one line, no trace
            if error is None:
                raise
        finally:
            bar.close()
        self.busy_s = max(0.0, writer.busy[1] - writer.busy[0])
        if error is not None:
            # Raised outside the handler: Ray's error and its frames, which hold the stopped pool, are gone, and a
            # collection now releases the actors (and their CPUs or GPUs) instead of whenever the cycle is collected.
            gc.collect()
            raise error
        writer.check_complete()

    def _mapped(
        self,
        ray: Any,
        bundle: ClipBundle,
        rows: list[dict[str, Any]],
        batch_size: int,
        max_pixels: int | None,
        plan: ActorPlan,
    ) -> Any:
        """The chunk rows in blocks, mapped by the pool of ``ChunkEncoder`` actors (a lazy Ray dataset)."""
        # blocks of CHUNKS_PER_BLOCK chunks, but at least 4 per actor while there are chunks enough (a block goes to
        # one actor: fewer blocks than actors would leave actors idle)
        blocks = min(len(rows), max(-(-len(rows) // CHUNKS_PER_BLOCK), 4 * plan.workers))
        expect = {"weights_hash": bundle.weights_hash, "preprocess": bundle.preprocess_id, "dim": bundle.embed_dim}
        return ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
            ChunkEncoder,
            batch_size=1,  # one chunk per call: its rows come back together
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=plan.workers),
            num_cpus=plan.num_cpus,
            num_gpus=plan.num_gpus,
            fn_constructor_kwargs={
                "model": self.model,
                "expect": expect,
                "device": plan.device,
                "threads": plan.threads,
                "batch_size": batch_size,
                "decode_workers": plan.decode_workers,
                "max_pixels": max_pixels,
            },
        )


@contextmanager
def _data_context(ray, **settings: Any) -> Iterator[None]:
    """Ray Data's (process-wide) DataContext with ``settings`` for the duration, restored after."""
    ctx = ray.data.DataContext.get_current()
    before = {k: getattr(ctx, k) for k in settings}
    for k, v in settings.items():
        setattr(ctx, k, v)
    try:
        yield
    finally:
        for k, v in before.items():
            setattr(ctx, k, v)


def _user_error_inside(exc: BaseException) -> BaseException | None:
    """The project's own error (a model that cannot load on a worker, ...) inside Ray's wrappers, if there is one."""
    from infocir.errors import is_user_error

    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if e is not exc and is_user_error(e):
            return e
        todo += [getattr(e, "cause", None), e.__cause__, e.__context__]
    return None
