"""Quality of a CLIP model on held-out demo-world images (what ``evaluate-demo`` prints)."""

from __future__ import annotations

from infocir.models.encoders import ClipBundle


def evaluate_bundle(bundle: ClipBundle, seed: int = 999, replicates: int = 1) -> dict[str, float]:
    """Zero-shot accuracy per attribute and full-caption text→image Recall@1/@10.

    The images are freshly rendered with ``seed`` (the shipped dataset uses seed 0 and
    training used 1234), one per attribute combination by default (1,920 images).
    """
    from infocir.models.train_demo import build_pool, evaluate

    images, attrs = build_pool(seed, replicates, bundle.image_size)
    res = evaluate(bundle, images, attrs)
    res["n_images"] = len(images)
    return res
