"""The demo world: deterministic procedural images with independent, nameable attributes.

Every image shows one object described by five attributes (shape, colour, size,
background, style) plus nuisance variation (position jitter, mild rotation, background
tint).  The shape is the class.  The generator knows each object's mask, which the
explanation issue uses to check that saliency lands on the object.

Public entry points:
    ``render(attrs, rng)``            one image and its object mask
    ``generate_dataset(root, ...)``   the seed's dataset layout + attributes.csv + queries.csv
    ``ensure_demo_dataset(root)``     generate once into a cache folder, reuse afterwards
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

log = logging.getLogger(__name__)

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "heart", "cross", "crescent", "arrow")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (218, 44, 42),
    "orange": (246, 136, 22),
    "yellow": (244, 206, 30),
    "green": (52, 168, 70),
    "blue": (38, 96, 222),
    "purple": (132, 62, 190),
    "pink": (242, 112, 182),
    "brown": (124, 74, 36),
}
SIZES: tuple[str, ...] = ("small", "large")
BACKGROUNDS: tuple[str, ...] = ("plain", "striped", "dotted", "grid", "gradient")
STYLES: tuple[str, ...] = ("filled", "outline", "sketch")
ATTRIBUTES: tuple[str, ...] = ("shape", "colour", "size", "background", "style")
VALUES: dict[str, tuple[str, ...]] = {
    "shape": SHAPES,
    "colour": tuple(COLOURS),
    "size": SIZES,
    "background": BACKGROUNDS,
    "style": STYLES,
}
# Neutral, pale tints so that no background competes with an object colour.
_TINTS = ((236, 234, 228), (226, 230, 236), (230, 236, 230), (238, 232, 236), (222, 222, 222))
_RADIUS = {"small": 0.21, "large": 0.36}  # object radius as a fraction of the image side
FORMAT_VERSION = 2  # bump when the images or the files change


@dataclass(frozen=True)
class Attributes:
    """The five nameable attributes of one demo-world object."""

    shape: str
    colour: str
    size: str
    background: str
    style: str

    def replace(self, attribute: str, value: str) -> Attributes:
        d = asdict(self)
        d[attribute] = value
        return Attributes(**d)

    def key(self) -> tuple[str, ...]:
        return tuple(getattr(self, a) for a in ATTRIBUTES)

    def indices(self) -> list[int]:
        """Each attribute's position in ``VALUES`` (in ``ATTRIBUTES`` order): a model's class labels."""
        return [VALUES[a].index(getattr(self, a)) for a in ATTRIBUTES]


def all_combinations() -> list[Attributes]:
    """Every attribute combination, in a fixed order (8·8·2·5·3 = 1920)."""
    return [Attributes(*c) for c in itertools.product(*(VALUES[a] for a in ATTRIBUTES))]


# --------------------------------------------------------------------------- geometry
def _circle(n: int = 72, r: float = 0.92) -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)


def _star() -> np.ndarray:
    t = np.arange(10) * math.pi / 5 - math.pi / 2
    r = np.where(np.arange(10) % 2 == 0, 1.0, 0.44)
    return np.stack([r * np.cos(t), r * np.sin(t) + 0.08], 1)


def _heart() -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, 90, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    return np.stack([x / 16.5, -(y + 2.5) / 16.5], 1)


def _crescent() -> np.ndarray:
    # Outer circle (centre 0, radius 1) minus an inner circle (centre d, radius r).
    d, r = 0.5, 0.9
    xi = (1 - r * r + d * d) / (2 * d)
    yi = math.sqrt(1 - xi * xi)
    a0 = math.atan2(yi, xi)
    outer = np.linspace(a0, 2 * math.pi - a0, 48)
    b0 = math.atan2(yi, xi - d)
    inner = np.linspace(2 * math.pi - b0, b0, 40)
    pts = [(math.cos(a), math.sin(a)) for a in outer] + [(d + r * math.cos(b), r * math.sin(b)) for b in inner]
    return np.array(pts) * 0.95 + np.array([0.1, 0.0])


_POLYGONS: dict[str, np.ndarray] = {
    "circle": _circle(),
    "square": np.array([(-0.78, -0.78), (0.78, -0.78), (0.78, 0.78), (-0.78, 0.78)]),
    "triangle": np.array([(0.0, -0.95), (0.9, 0.62), (-0.9, 0.62)]),
    "star": _star(),
    "heart": _heart(),
    "cross": np.array(
        [
            (-0.3, -0.92),
            (0.3, -0.92),
            (0.3, -0.3),
            (0.92, -0.3),
            (0.92, 0.3),
            (0.3, 0.3),
            (0.3, 0.92),
            (-0.3, 0.92),
            (-0.3, 0.3),
            (-0.92, 0.3),
            (-0.92, -0.3),
            (-0.3, -0.3),
        ]
    ),
    "crescent": _crescent(),
    "arrow": np.array(
        [(-0.95, -0.26), (0.15, -0.26), (0.15, -0.7), (0.98, 0.0), (0.15, 0.7), (0.15, 0.26), (-0.95, 0.26)]
    ),
}


def _shade(rgb: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, c * f))) for c in rgb)  # type: ignore[return-value]


def _background(kind: str, side: int, rng: np.random.Generator) -> Image.Image:
    tint = _TINTS[int(rng.integers(len(_TINTS)))]
    ink = _shade(tint, 0.8)
    img = Image.new("RGB", (side, side), tint)
    draw = ImageDraw.Draw(img)
    step = side // int(rng.integers(6, 9))
    off = int(rng.integers(step))
    if kind == "striped":
        for x in range(-side, 2 * side, step):
            draw.polygon(
                [(x + off, 0), (x + off + step // 2, 0), (x + off + step // 2 - side, side), (x + off - side, side)],
                fill=ink,
            )
    elif kind == "dotted":
        rad = max(2, step // 6)
        for i, y in enumerate(range(off - step, side + step, step)):
            for x in range(off - step + (step // 2) * (i % 2), side + step, step):
                draw.ellipse([x - rad, y - rad, x + rad, y + rad], fill=ink)
    elif kind == "grid":
        w = max(2, side // 90)
        for v in range(off, side, step):
            draw.line([(v, 0), (v, side)], fill=ink, width=w)
            draw.line([(0, v), (side, v)], fill=ink, width=w)
    elif kind == "gradient":
        top = np.array(_shade(tint, 1.04), float)
        bottom = np.array(_shade(tint, 0.66), float)
        angle = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:side, 0:side] / (side - 1) - 0.5
        t = np.clip((xx * math.cos(angle) + yy * math.sin(angle)) + 0.5, 0, 1)[..., None]
        arr = (top * (1 - t) + bottom * t).clip(0, 255).astype(np.uint8)
        img = Image.fromarray(arr, "RGB")
    return img


@dataclass(frozen=True)
class Variation:
    """How far a *varied* render departs from the shipped world's near-central layout.

    The shipped dataset uses none of it (``render``); training draws half its images with it
    (``render_varied``) so that the model learns shapes wherever and however large they are.
    Radii are fractions of the image side (the object's extent is about twice the radius).
    """

    radius: tuple[tuple[float, float], tuple[float, float]] = ((0.07, 0.20), (0.27, 0.42))  # small, large
    stretch: float = 0.15  # independent x/y scale factors in 1 ± stretch
    vertex_noise: float = 0.015  # outline wobble, in units of the radius
    stroke: tuple[float, float] = (0.6, 1.7)  # stroke-width factor


VARIATION = Variation()


def _layout(attrs: Attributes, rng: np.random.Generator, big: int, variation: Variation | None):
    """Outline points (image coordinates), radius and stroke-width factor of the object."""
    base = _POLYGONS[attrs.shape]
    if variation is None:
        radius = _RADIUS[attrs.size] * big * rng.uniform(0.93, 1.07)
        jitter = 0.09 * big
        cx = big / 2 + rng.uniform(-jitter, jitter)
        cy = big / 2 + rng.uniform(-jitter, jitter)
        angle = 0.0 if attrs.shape == "circle" else math.radians(rng.uniform(-15, 15))
        stroke_factor = 1.0
    else:
        lo, hi = variation.radius[SIZES.index(attrs.size)]
        radius = rng.uniform(lo, hi) * big
        cx, cy = rng.uniform(radius * 0.95, big - radius * 0.95, 2)
        angle = rng.uniform(0, 2 * math.pi)
        stretch = rng.uniform(1 - variation.stretch, 1 + variation.stretch, 2)
        base = base * stretch + rng.normal(0, variation.vertex_noise, base.shape)
        stroke_factor = rng.uniform(*variation.stroke)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return base @ rot.T * radius + np.array([cx, cy]), radius, stroke_factor


def render(attrs: Attributes, rng: np.random.Generator, side: int = 128) -> tuple[Image.Image, np.ndarray]:
    """Draw one object as the shipped world does (near-central, two fixed sizes, mild rotation).

    Returns the RGB image (``side``×``side``) and the object's boolean mask (same size).
    Drawing happens at 2× and is downsampled for anti-aliasing.
    """
    return _draw(attrs, rng, side, None)


def render_varied(attrs: Attributes, rng: np.random.Generator, side: int = 128) -> tuple[Image.Image, np.ndarray]:
    """Draw one object with ``VARIATION``: anywhere, any rotation, a size range, stretched outlines,
    varied strokes and a background pattern at a random angle (training data only)."""
    return _draw(attrs, rng, side, VARIATION)


def _draw(
    attrs: Attributes, rng: np.random.Generator, side: int, variation: Variation | None
) -> tuple[Image.Image, np.ndarray]:
    big = side * 2
    if variation is None:
        img = _background(attrs.background, big, rng)
    else:  # the pattern at any angle: draw it larger, rotate, crop the middle
        pad = big // 2
        img = _background(attrs.background, big + 2 * pad, rng)
        img = img.rotate(rng.uniform(0, 360), resample=Image.Resampling.BILINEAR).crop((pad, pad, pad + big, pad + big))
    pts, radius, stroke_factor = _layout(attrs, rng, big, variation)
    poly = [tuple(p) for p in pts]
    colour = COLOURS[attrs.colour]
    stroke = max(3, int(radius * 0.13 * stroke_factor))

    mask_img = Image.new("L", (big, big), 0)
    mdraw = ImageDraw.Draw(mask_img)
    mdraw.polygon(poly, fill=255)
    mdraw.line(poly + [poly[0]], fill=255, width=stroke, joint="curve")

    draw = ImageDraw.Draw(img)
    if attrs.style == "filled":
        draw.polygon(poly, fill=colour)
        draw.line(poly + [poly[0]], fill=_shade(colour, 0.72), width=max(2, stroke // 3), joint="curve")
    elif attrs.style == "outline":
        draw.line(poly + [poly[0]], fill=colour, width=stroke, joint="curve")
    else:  # sketch: hatched interior plus two wobbly thin contours, like a pencil drawing
        hatch = Image.new("L", (big, big), 0)
        hdraw = ImageDraw.Draw(hatch)
        gap = max(6, int(radius * 0.16))
        for x in range(-big, 2 * big, gap):
            hdraw.line([(x, 0), (x + big, big)], fill=255, width=max(2, gap // 3))
        inside = Image.new("L", (big, big), 0)
        ImageDraw.Draw(inside).polygon(poly, fill=255)
        hatch = Image.fromarray((np.asarray(hatch, np.uint16) * np.asarray(inside) // 255).astype(np.uint8))
        img.paste(Image.new("RGB", (big, big), colour), (0, 0), hatch)
        for _ in range(2):
            wobble = pts + rng.normal(0, radius * 0.025, pts.shape)
            w = [tuple(p) for p in wobble]
            draw.line(w + [w[0]], fill=_shade(colour, 0.8), width=max(2, stroke // 3), joint="curve")
    img = img.filter(ImageFilter.GaussianBlur(0.6)).resize((side, side), Image.Resampling.LANCZOS)
    mask = np.asarray(mask_img.resize((side, side), Image.Resampling.BILINEAR)) > 96
    return img, mask


# --------------------------------------------------------------------------- language
SIZE_WORDS = {"small": ("small", "little", "tiny"), "large": ("large", "big", "huge")}
STYLE_WORDS = {
    "filled": ("filled", "solid"),
    "outline": ("outlined", "outline"),
    "sketch": ("sketched", "hatched", "sketchy"),
}
BACKGROUND_WORDS = {
    "plain": ("plain",),
    "striped": ("striped",),
    "dotted": ("dotted", "polka dot"),
    "grid": ("grid", "checkered grid"),
    "gradient": ("gradient", "shaded gradient"),
}


def describe(attrs: Attributes, rng: np.random.Generator | None = None, subset: tuple[str, ...] = ATTRIBUTES) -> str:
    """A caption naming the attributes in ``subset`` ("a small red filled star on a striped background").

    With ``rng`` the synonym for each attribute is drawn at random; without it the first
    (canonical) word is used, so captions are deterministic.
    """

    def pick(words: tuple[str, ...]) -> str:
        return words[int(rng.integers(len(words)))] if rng is not None else words[0]

    parts = []
    if "size" in subset:
        parts.append(pick(SIZE_WORDS[attrs.size]))
    if "colour" in subset:
        parts.append(attrs.colour)
    if "style" in subset:
        parts.append(pick(STYLE_WORDS[attrs.style]))
    parts.append(attrs.shape if "shape" in subset else "shape")
    text = "a " + " ".join(parts)
    if "background" in subset:
        text += f" on a {pick(BACKGROUND_WORDS[attrs.background])} background"
    return text


_MOD_TEMPLATES: dict[str, tuple[str, ...]] = {
    "colour": (
        "make it {new}",
        "change the colour to {new}",
        "in {new} instead",
        "the same but {new}",
        "{new} this time",
    ),
    "shape": (
        "turn the {old} into a {new}",
        "make it a {new}",
        "a {new} instead of a {old}",
        "as a {new}",
        "change the shape to a {new}",
    ),
    "background": (
        "on a {new} background",
        "with a {new} backdrop",
        "change the background to {new}",
        "put it on a {new} background",
    ),
}
_SIZE_TEMPLATES = {
    "large": ("make it bigger", "larger", "enlarge the {shape}", "a bigger version"),
    "small": ("make it smaller", "shrink it", "a smaller version", "reduce the size of the {shape}"),
}
_STYLE_TEMPLATES = {
    "filled": ("filled in", "as a solid shape", "fill it with colour"),
    "outline": ("as an outline drawing", "only the outline", "just the contour"),
    "sketch": ("as a sketch", "as a hatched sketch", "as a rough pencil sketch"),
}


def modification_text(ref: Attributes, attribute: str, new: str, rng: np.random.Generator) -> str:
    """A relative caption that changes ``attribute`` of ``ref`` to ``new``, phrasing varied."""
    choices: tuple[str, ...]
    if attribute == "size":
        choices = _SIZE_TEMPLATES[new]
    elif attribute == "style":
        choices = _STYLE_TEMPLATES[new]
    else:
        choices = _MOD_TEMPLATES[attribute]
    template = choices[int(rng.integers(len(choices)))]
    new_word = BACKGROUND_WORDS[new][0] if attribute == "background" else new
    return template.format(new=new_word, old=getattr(ref, attribute), shape=ref.shape)


# --------------------------------------------------------------------------- dataset files
@dataclass(frozen=True)
class DemoWorldSpec:
    """What a generated demo dataset holds; stored in ``world.json`` so a changed spec regenerates."""

    seed: int = 0
    replicates: int = 3  # images per attribute combination: 1920·3 = 5760 images
    side: int = 128
    n_queries: int = 400
    version: int = FORMAT_VERSION


def image_id(attrs: Attributes, index: int) -> str:
    return f"{attrs.shape}/{attrs.shape}_{index:05d}.png"


Renderer = Callable[[Attributes, np.random.Generator, int], tuple[Image.Image, np.ndarray]]


def _render_replicate(
    args: tuple[Any, int, str, Renderer, tuple[int, ...], int, int],
) -> list[tuple[str, tuple[str, ...], np.ndarray]]:
    """Render and save combinations ``lo:hi`` of one replicate; returns (id, attributes, packed mask)."""
    spec, rep, out, draw, salt, lo, hi = args
    combos = all_combinations()
    per_shape = len(combos) // len(SHAPES)  # combinations are shape-major (itertools.product order)
    rows = []
    for ci, attrs in list(enumerate(combos))[lo:hi]:
        # One generator per image makes each image independent of the order of the others.
        img, mask = draw(attrs, np.random.default_rng([spec.seed, rep, ci, *salt]), spec.side)
        iid = image_id(attrs, rep * per_shape + ci % per_shape)
        img.save(Path(out) / iid, compress_level=1)
        rows.append((iid, attrs.key(), np.packbits(mask)))
    return rows


def make_queries(
    records: list[tuple[str, Attributes]], n: int, seed: int, attributes: tuple[str, ...] = ATTRIBUTES
) -> list[dict]:
    """CIR ground truth: each query changes exactly one attribute (cycling through ``attributes``);
    targets are all images with the changed combination."""
    by_key: dict[tuple[str, ...], list[str]] = {}
    for iid, attrs in records:
        by_key.setdefault(attrs.key(), []).append(iid)
    rng = np.random.default_rng([seed, 7919])
    queries = []
    for qi in range(n):
        ref_id, ref = records[int(rng.integers(len(records)))]
        attribute = attributes[qi % len(attributes)]
        options = [v for v in VALUES[attribute] if v != getattr(ref, attribute)]
        new = options[int(rng.integers(len(options)))]
        target = ref.replace(attribute, new)
        queries.append(
            {
                "query_id": qi,
                "reference_id": ref_id,
                "text": modification_text(ref, attribute, new, rng),
                "attribute": attribute,
                "new_value": new,
                "target_ids": by_key.get(target.key(), []),
            }
        )
    return queries


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def generate_dataset(root: str | os.PathLike, spec: DemoWorldSpec = DemoWorldSpec(), workers: int = 2) -> Path:
    """Write the world in the seed's layout (class folders + class_names.csv) plus
    ``attributes.csv``, ``captions.csv``, ``masks.npz``, ``queries.csv`` / ``queries.json`` and ``world.json``."""
    return write_world(root, spec, render, workers=workers)


def write_world(
    root: str | os.PathLike, spec: Any, draw: Renderer, workers: int = 2, salt: tuple[int, ...] = ()
) -> Path:
    """Render ``spec.replicates`` × every combination with ``draw`` (a module-level function, so
    that worker processes can pickle it) and write the dataset files.

    ``spec`` is a dataclass with ``seed``, ``replicates``, ``side`` and ``n_queries``; it is stored
    in ``world.json``.  The folder is built beside ``root`` and renamed into place, so an
    interrupted run never leaves a half-written dataset behind.
    """
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=root.name + ".tmp-", dir=root.parent))
    try:
        for shape in SHAPES:
            (tmp / shape).mkdir()
        _write_csv(tmp / "class_names.csv", ["dir_name", "class_name"], [[s, s] for s in SHAPES])
        # Chunks of combinations, so that one replicate also keeps every worker busy.
        n_combo = len(all_combinations())
        step = -(-n_combo // max(1, workers))
        jobs = [
            (spec, rep, str(tmp), draw, salt, lo, min(n_combo, lo + step))
            for rep in range(spec.replicates)
            for lo in range(0, n_combo, step)
        ]
        with ProcessPoolExecutor(max_workers=max(1, min(workers, len(jobs)))) as pool:
            rendered = [row for part in pool.map(_render_replicate, jobs) for row in part]
        _write_csv(tmp / "attributes.csv", ["image_id", *ATTRIBUTES], [[iid, *key] for iid, key, _ in rendered])
        from infocir.data.captions import write_captions

        write_captions(tmp, spec.seed)  # the text-to-image queries and collection expansion's items
        np.savez_compressed(
            tmp / "masks.npz",
            ids=np.array([r[0] for r in rendered]),
            bits=np.stack([r[2] for r in rendered]),
            side=spec.side,
        )
        queries = make_queries(
            [(iid, Attributes(*key)) for iid, key, _ in rendered],
            spec.n_queries,
            spec.seed,
            getattr(spec, "query_attributes", ATTRIBUTES),
        )
        (tmp / "queries.json").write_text(json.dumps(queries, indent=1))
        _write_csv(
            tmp / "queries.csv",
            ["query_id", "reference_id", "text", "attribute", "new_value", "target_ids"],
            [
                [q["query_id"], q["reference_id"], q["text"], q["attribute"], q["new_value"], ";".join(q["target_ids"])]
                for q in queries
            ],
        )
        (tmp / "world.json").write_text(json.dumps(asdict(spec), indent=1))
        if root.exists():
            shutil.rmtree(root)
        tmp.rename(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def ensure_demo_dataset(root: str | os.PathLike, spec: DemoWorldSpec = DemoWorldSpec()) -> Path:
    """Generate the demo dataset into ``root`` unless an identical one is already there."""
    root = Path(root)
    meta = root / "world.json"
    if meta.exists():
        try:
            if json.loads(meta.read_text()) == asdict(spec):
                if not (root / "captions.csv").is_file():  # a world generated before captions existed
                    from infocir.data.captions import write_captions

                    write_captions(root, spec.seed)
                return root
        except (OSError, ValueError):
            pass
        log.info("Demo dataset at %s was made with another recipe; regenerating.", root)
    log.info("Generating the demo world (%d images) into %s ...", len(all_combinations()) * spec.replicates, root)
    return generate_dataset(root, spec)


def read_attributes(root: str | os.PathLike) -> dict[str, Attributes]:
    """Image id → attributes, from ``attributes.csv``."""
    with open(Path(root) / "attributes.csv", newline="") as f:
        return {r["image_id"]: Attributes(*(r[a] for a in ATTRIBUTES)) for r in csv.DictReader(f)}


def read_queries(root: str | os.PathLike) -> list[dict]:
    """The CIR queries of a generated world."""
    return json.loads((Path(root) / "queries.json").read_text())


def read_masks(root: str | os.PathLike) -> dict[str, np.ndarray]:
    """Image id → boolean object mask (side×side)."""
    z = np.load(Path(root) / "masks.npz")
    side = int(z["side"])
    return {
        str(i): np.unpackbits(b)[: side * side].reshape(side, side).astype(bool)
        for i, b in zip(z["ids"], z["bits"], strict=True)
    }
