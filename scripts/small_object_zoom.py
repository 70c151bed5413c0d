"""Is a model's small-object shape accuracy limited by how few patches the object covers?

Draws the 960 small-object combinations with the independent renderer (seed 999, as
``evaluate-demo --renderer independent``) and scores zero-shot shape twice: on the images as drawn,
and on each image cropped around its object (a square box, the object about 60 % of it) and resized
back, so the same pixels spread over many more of the model's patches.  If the second figure rises
to the large-object accuracy, resolution was the limit; if not, the model misreads the shapes.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/small_object_zoom.py                     # the shipped demo model
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/small_object_zoom.py --model InfoCIR-Demo-RN-Teacher --pretrained T.pt
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image

from infocir.data.demo_world import SHAPES, all_combinations
from infocir.data.independent_world import render_seeded
from infocir.models.demo_eval import shape_predictions
from infocir.models.encoders import ASSET_DIR, load_clip
from infocir.models.train_demo import _input_transform, encode_images

OBJECT_SHARE = 0.6  # the object's extent as a share of the crop's side


def crop_to_object(img: Image.Image, mask: np.ndarray) -> Image.Image:
    """A square crop centred on the object's bounding box, resized to the image's side."""
    ys, xs = np.nonzero(mask)
    cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
    half = max(xs.max() - xs.min(), ys.max() - ys.min()) / 2 / OBJECT_SHARE
    box = tuple(round(v) for v in (cx - half, cy - half, cx + half, cy + half))
    return img.crop(box).resize(img.size, Image.BICUBIC)  # areas outside the image come back black


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="InfoCIR-Demo-ViT")
    ap.add_argument("--pretrained", default=str(ASSET_DIR / "InfoCIR-Demo-ViT.pt"))
    ap.add_argument("--seed", type=int, default=999)
    args = ap.parse_args()
    bundle = load_clip(args.model, args.pretrained, preprocess="clip", device="cpu", precision="fp32")
    bundle.model.eval()
    to_input = _input_transform(bundle.image_size)
    drawn, cropped, shapes = [], [], []
    for ci, attrs in enumerate(all_combinations()):
        if attrs.size != "small":
            continue
        img, mask = render_seeded(attrs, args.seed, 0, ci)
        drawn.append(to_input(img))
        cropped.append(to_input(crop_to_object(img, mask)))
        shapes.append(SHAPES.index(attrs.shape))
    truth = np.array(shapes)
    for name, images in (("as drawn", drawn), ("cropped to the object", cropped)):
        called = shape_predictions(bundle, encode_images(bundle, torch.stack(images)))
        print(f"{args.model}, {len(truth)} small objects, {name}: shape {100 * (called == truth).mean():.1f} %")


if __name__ == "__main__":
    main()
