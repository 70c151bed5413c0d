"""``segment-eval``: referring segmentation against the demo world's object masks.

For ``n`` demo images (a seeded sample) the text names the object ("a red star": colour and shape
from ``attributes.csv``) and each variant's mask is scored by its IoU with the generator's mask.

Two settings:

- **single**: the demo image itself (one object per image: localisation).
- **2×2 grid**: the image pasted into one quadrant of a 2×2 canvas beside three distractors of
  another shape *and* another colour; the mask must land on the referred object, so a
  text-independent map (rollout) or a centred blob cannot score well (referring).

Rows: the configured provider when it is not ``saliency``; the saliency provider as configured;
the same without cleaning (the raw threshold); its text map without the objectness prior; attention
rollout alone (text-independent); and a disc of the world's mean object area, centred (single) or
centred in a random quadrant (grid).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from infocir.explain.segmentation import SaliencySegmenter, SegmentationProvider, create_segmenter, mask_iou

DISC = "centred disc (mean object area)"


def object_phrase(attrs) -> str:
    """The text naming a demo object: "a red star" (colour and shape)."""
    from infocir.data.demo_world import describe

    return describe(attrs, subset=("colour", "shape"))


def disc_mask(
    side: int, area: float, centre: tuple[float, float] | None = None, canvas: int | None = None
) -> np.ndarray:
    """A disc covering ``area`` (a share of a ``side``² tile) centred at ``centre`` on a ``canvas``² image."""
    canvas = canvas or side
    cx, cy = centre if centre is not None else (canvas / 2, canvas / 2)
    r = np.sqrt(area * side * side / np.pi)
    yy, xx = np.mgrid[:canvas, :canvas]
    return (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= r * r


def _providers(bundle, cfg) -> dict[str, SegmentationProvider | None]:
    """The rows: the saliency provider as ``cfg`` sets it and its ablations, the configured provider when it is
    another (CLIPSeg), and None for the disc baseline."""
    base = SaliencySegmenter.from_config(bundle, cfg)
    raw = SaliencySegmenter.from_config(bundle, cfg)
    raw.clean = False
    text_only = SaliencySegmenter.from_config(bundle, replace(cfg, objectness=False))
    rollout = SaliencySegmenter.from_config(bundle, replace(cfg, explainer="rollout", objectness=False))
    configured = {} if cfg.provider == "saliency" else {f"{cfg.provider} provider": create_segmenter(bundle, cfg)}
    return {
        **configured,
        "saliency provider": base,
        "same, no cleaning (raw threshold)": raw,
        "text map alone (no objectness prior)": text_only,
        "rollout alone (ignores the text)": rollout,
        DISC: None,
    }


def grid_canvas(root: Path, tiles: list[str], side: int) -> Image.Image:
    canvas = Image.new("RGB", (2 * side, 2 * side))
    for t, image_id in enumerate(tiles):
        canvas.paste(Image.open(root / image_id).convert("RGB").resize((side, side)), ((t % 2) * side, (t // 2) * side))
    return canvas


def segmentation_eval(
    engine,
    n: int = 200,
    seed: int = 0,
    grid: bool = True,
    cfg=None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Mean IoU of each variant (``variants``) on ``n`` seeded demo images of ``engine``'s dataset (a demo
    world: ``attributes.csv`` and ``masks.npz``), single and, with ``grid``, on 2×2 grids.  Returns
    {"rows": {variant: {"iou", "iou_grid", "seconds", "images"}}, "images", "seed", "mean_area", settings}."""
    from infocir.data.demo_world import read_attributes, read_masks

    root = Path(engine.scan.root)
    cfg = cfg if cfg is not None else engine.config.segmentation
    attrs, masks = read_attributes(root), read_masks(root)
    ids = sorted(i for i in masks if i in attrs)
    if not ids:
        raise ValueError(f"{root}: no image has both attributes and a mask")
    rng = np.random.default_rng(seed)
    pick = [ids[i] for i in rng.choice(len(ids), min(n, len(ids)), replace=False)]
    side = next(iter(masks.values())).shape[0]
    mean_area = float(np.mean([m.mean() for m in masks.values()]))
    providers = _providers(engine.bundle, cfg)
    rows: dict[str, dict[str, list[float]]] = {k: {"iou": [], "iou_grid": [], "seconds": []} for k in providers}
    centred = disc_mask(side, mean_area)
    for step, image_id in enumerate(pick):
        a = attrs[image_id]
        text = object_phrase(a)
        image = Image.open(root / image_id).convert("RGB")
        gt = masks[image_id]
        grid_case = None
        if grid:
            q = step % 4
            pool = [j for j in ids if attrs[j].shape != a.shape and attrs[j].colour != a.colour]
            others = [pool[i] for i in rng.choice(len(pool), 3, replace=False)]
            tiles = others[:q] + [image_id] + others[q:]
            canvas = grid_canvas(root, tiles, side)
            gt_grid = np.zeros((2 * side, 2 * side), bool)
            x0, y0 = (q % 2) * side, (q // 2) * side
            gt_grid[y0 : y0 + side, x0 : x0 + side] = gt
            guess = int(rng.integers(4))  # the disc baseline's quadrant: chance of pointing at the right tile
            disc_grid = disc_mask(
                side, mean_area, ((guess % 2) * side + side / 2, (guess // 2) * side + side / 2), 2 * side
            )
            grid_case = (canvas, gt_grid, disc_grid)
        for name, p in providers.items():
            if p is None:
                rows[name]["iou"].append(mask_iou(centred, gt))
                if grid_case:
                    rows[name]["iou_grid"].append(mask_iou(grid_case[2], grid_case[1]))
                continue
            t0 = time.perf_counter()
            m = p.mask(image, text)
            rows[name]["seconds"].append(time.perf_counter() - t0)
            rows[name]["iou"].append(mask_iou(m, gt))
            if grid_case:
                rows[name]["iou_grid"].append(mask_iou(p.mask(grid_case[0], text), grid_case[1]))
        if progress:
            progress(step + 1, len(pick))

    def mean(v: list[float]) -> float:
        return float(np.mean(v)) if v else float("nan")

    return {
        "rows": {
            k: {
                "iou": mean(r["iou"]),
                "iou_grid": mean(r["iou_grid"]),
                "seconds": mean(r["seconds"]),
                "images": len(r["iou"]),
            }
            for k, r in rows.items()
        },
        "images": len(pick),
        "seed": seed,
        "mean_area": mean_area,
        "settings": {
            "explainer": cfg.explainer,
            "layers": cfg.layers,
            "objectness": cfg.objectness,
            "threshold": cfg.threshold,
            "min_area": cfg.min_area,
            "keep": cfg.keep,
        },
    }
