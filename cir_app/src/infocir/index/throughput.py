"""Index-build throughput against its two bounds (used by benchmarks/index_build.py and gpu_check.py).

* decode bound: decode + preprocess alone through the build's DataLoader (same workers);
* model-only bound: the same batches, already decoded and in memory, through the encoder;
* build: ``build_index`` end to end (decode overlapped with encode, chunks written to disk).
"""

from __future__ import annotations

import time
from pathlib import Path

from infocir.index.store import build_batches, build_index, decoded_batches
from infocir.models.encoding import encode_pixels


def measure(bundle, scan, batch: int, workers: int, out_dir: Path) -> dict:
    """Decode bound, model-only bound and build throughput (images/s) for one worker count."""
    records = scan.records
    batches = build_batches(len(records), len(records), batch, set())
    t0 = time.perf_counter()
    decoded = [p for p, _, _ in decoded_batches(bundle, records, batches, workers)]
    decode_s = time.perf_counter() - t0
    encode_pixels(bundle, decoded[0][:2])  # warm-up (kernels, autotuning) outside the timing
    t0 = time.perf_counter()
    for p in decoded:
        encode_pixels(bundle, p)  # returns host numpy, so the device has finished
    model_s = time.perf_counter() - t0
    del decoded
    t0 = time.perf_counter()
    build_index(bundle, scan, out_dir, batch_size=batch, chunk_size=1024, progress=False, num_workers=workers)
    build_s = time.perf_counter() - t0
    n = len(records)
    decode, model, build = n / decode_s, n / model_s, n / build_s
    return {
        "workers": workers,
        "decode_img_s": decode,
        "model_img_s": model,
        "build_img_s": build,
        "ratio": build / min(decode, model),
    }
