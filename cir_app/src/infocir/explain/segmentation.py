"""Referring segmentation: the region of an image that a text refers to, as a boolean mask at the
image's size.

A *provider* maps (image, text) to the mask; providers are registered by name like the
explainers, and ``[segmentation] provider`` picks one:

- ``saliency`` (the default, no extra weights): the engine's own text-conditioned saliency of the
  image for its similarity to the text's embedding (Grad-ECLIP summed over the image tower's
  blocks), by default multiplied (geometric mean) by attention rollout as an objectness prior,
  aligned onto the image as shown (``explain.image.align_to_image``), thresholded (Otsu, or a
  fraction of the map's maximum) and cleaned (the largest connected component(s), holes filled,
  blobs under ``min_area`` dropped).
- ``clipseg``: a CLIPSeg model from a local folder (``segmentation.clipseg_path``, loaded with
  transformers' ``CLIPSegForImageSegmentation``), thresholded and cleaned the same way.

The pure steps (``otsu_threshold``, ``threshold_map``, ``clean_mask``, ``mask_iou``) are used by the
evaluation (``evaluation.segmentation_eval``) as well.
"""

from __future__ import annotations

import importlib
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from PIL import Image

from infocir.errors import UserError
from infocir.registry import Registry

if TYPE_CHECKING:
    from infocir.config import SegmentationConfig

WORK_SIDE = 512  # masks are thresholded and cleaned at most this many pixels per side, then resized to the image


class SegmentationUnavailable(UserError, RuntimeError):
    """A provider cannot run here (no model path, a missing package, weights that do not load)."""


class SegmentationProvider(ABC):
    """Maps (image, text) to a boolean mask [H, W] at the image's size: the region the text refers to."""

    name: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str]
    order: ClassVar[int] = 100

    @abstractmethod
    def mask(self, image: Image.Image, text: str) -> np.ndarray:
        """Boolean mask of ``image``'s size (rows = height) of the region ``text`` refers to."""

    @classmethod
    def from_config(cls, bundle, cfg: SegmentationConfig) -> SegmentationProvider:
        """The provider as ``[segmentation]`` configures it, over the engine's model ``bundle``."""
        return cls()  # pragma: no cover - providers override it

    def key(self) -> tuple:
        """What identifies this provider's masks (the settings), for caches."""
        return (self.name,)


SEGMENTERS: Registry[type[SegmentationProvider]] = Registry("segmentation provider", "infocir.explain")
register = SEGMENTERS.register


def create_segmenter(bundle, cfg: SegmentationConfig, name: str | None = None) -> SegmentationProvider:
    """The provider ``name`` (default ``cfg.provider``) configured from ``cfg``."""
    return SEGMENTERS.lookup(name or cfg.provider).from_config(bundle, cfg)


# --------------------------------------------------------------------------- pure steps
def parse_threshold(threshold: str | float) -> str | float:
    """``"otsu"`` or a number in (0, 1] (a string from the configuration is parsed)."""
    if isinstance(threshold, str):
        t = threshold.strip().lower()
        if t == "otsu":
            return "otsu"
        if not re.fullmatch(r"\d*\.?\d+", t):
            raise ValueError(f"threshold must be 'otsu' or a number in (0, 1], not {threshold!r}")
        threshold = float(t)
    if not 0 < float(threshold) <= 1:
        raise ValueError(f"threshold must be 'otsu' or a number in (0, 1], not {threshold!r}")
    return float(threshold)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of ``values``: the cut of a ``bins``-bin histogram that maximises the
    between-class variance, the middle one where several tie (a constant input returns its value)."""
    v = np.asarray(values, np.float64).ravel()
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return hi
    hist, edges = np.histogram(v, bins, (lo, hi))
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist, dtype=np.float64)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = w0 * w1 * (m0 / w0 - (m0[-1] - m0) / w1) ** 2
    between = np.nan_to_num(between, nan=-1.0)
    # Cuts inside an empty stretch of the histogram tie: take the middle one, not the first.
    ties = np.flatnonzero(between >= between.max() * (1 - 1e-9))
    return float(edges[int(ties[len(ties) // 2]) + 1])  # the upper edge of the lower class


def threshold_map(saliency: np.ndarray, threshold: str | float = "otsu") -> np.ndarray:
    """Pixels of ``saliency`` scaled to [0, 1] by its maximum that reach the threshold: Otsu's cut, or a
    number in (0, 1].  An all-zero map gives an empty mask."""
    s = np.clip(np.nan_to_num(np.asarray(saliency, np.float64)), 0, None)
    top = s.max() if s.size else 0.0
    if top <= 0:
        return np.zeros(s.shape, bool)
    s = s / top
    t = parse_threshold(threshold)
    return s > otsu_threshold(s) if t == "otsu" else s >= float(t)


def clean_mask(mask: np.ndarray, min_area: float = 0.01, keep: int = 1, fill_holes: bool = True) -> np.ndarray:
    """Fill the holes of a boolean mask and keep its ``keep`` largest connected components (8-connected),
    dropping any but the largest that cover less than ``min_area`` of the image.  Empty stays empty."""
    from scipy import ndimage as ndi

    m = np.asarray(mask, bool)
    if fill_holes:
        m = ndi.binary_fill_holes(m)
    labels, n = ndi.label(m, structure=np.ones((3, 3), bool))
    if n == 0:
        return m
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    order = np.argsort(-sizes, kind="stable")
    chosen = [order[0]] + [c for c in order[1 : max(1, keep)] if sizes[c] >= min_area * m.size]
    return np.isin(labels, np.asarray(chosen) + 1)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks of one size (1 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _work_size(size: tuple[int, int]) -> tuple[int, int]:
    from infocir.explain.image import display_size

    return display_size(size, WORK_SIDE)


def _to_image_size(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (mask.shape[1], mask.shape[0]) == tuple(size):
        return mask
    return np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.NEAREST)) > 127


def _threshold_and_clean(soft: np.ndarray, threshold, clean: bool, min_area: float, keep: int) -> np.ndarray:
    raw = threshold_map(soft, threshold)
    return clean_mask(raw, min_area, keep) if clean else raw


# --------------------------------------------------------------------------- providers
@register
class SaliencySegmenter(SegmentationProvider):
    """The engine's own text-conditioned saliency, thresholded and cleaned."""

    name = "saliency"
    label = "text-conditioned saliency"
    order = 10
    description = (
        "Grad-ECLIP of the image's similarity to the text (all blocks) × attention rollout, "
        "thresholded (Otsu) and cleaned (largest component, holes filled)."
    )

    def __init__(
        self,
        bundle,
        explainer: str = "grad_eclip",
        layers: int = 0,
        objectness: bool = True,
        threshold: str | float = "otsu",
        min_area: float = 0.01,
        keep: int = 1,
        clean: bool = True,
    ):
        from infocir.explain.base import EXPLAINERS

        EXPLAINERS.lookup(explainer)  # an unknown name fails here, listing the known ones
        self.bundle = bundle
        self.explainer, self.layers, self.objectness = explainer, int(layers), bool(objectness)
        self.threshold = parse_threshold(threshold)
        self.min_area, self.keep, self.clean = float(min_area), int(keep), bool(clean)

    @classmethod
    def from_config(cls, bundle, cfg: SegmentationConfig) -> SaliencySegmenter:
        return cls(
            bundle,
            explainer=cfg.explainer,
            layers=cfg.layers,
            objectness=cfg.objectness,
            threshold=cfg.threshold,
            min_area=cfg.min_area,
            keep=cfg.keep,
        )

    def key(self) -> tuple:
        return (
            self.name,
            self.bundle.weights_hash,
            self.explainer,
            self.layers,
            self.objectness,
            self.threshold,
            self.min_area,
            self.keep,
            self.clean,
        )

    def _explainer(self):
        from infocir.explain.base import create_explainer

        return (
            create_explainer(self.explainer, layers=self.layers)
            if self.explainer == "grad_eclip"
            else (create_explainer(self.explainer))
        )

    def grids(self, image: Image.Image, text: str) -> dict[str, np.ndarray]:
        """The patch-grid maps: ``text`` (the explainer's map of the similarity to the text) and, with the
        objectness prior, ``objectness`` (attention rollout) and ``combined`` (their geometric mean)."""
        from infocir.explain.base import create_explainer, similarity_target
        from infocir.models.encoding import encode_texts

        b = self.bundle
        vector = encode_texts(b, [text])[0]
        pixels = b.pixels([image.convert("RGB")])
        target = similarity_target(vector, b)
        out = {"text": _unit_max(self._explainer().grid(b.model, pixels, target))}
        if self.objectness:
            out["objectness"] = _unit_max(create_explainer("rollout").grid(b.model, pixels, target))
            out["combined"] = np.sqrt(out["text"] * out["objectness"])
        return out

    def soft(self, image: Image.Image, text: str, size: tuple[int, int] | None = None) -> np.ndarray:
        """The map thresholded by ``mask``, aligned onto the image at ``size`` = (W, H) (default: the
        working size, the image at most ``WORK_SIDE`` px per side), scaled to a maximum of 1."""
        from infocir.explain.image import align_to_image

        g = self.grids(image, text)
        grid = g.get("combined", g["text"])
        b = self.bundle
        return align_to_image(grid, image.size, b.preprocess_kind, size or _work_size(image.size), b.targetpad_ratio)

    def mask(self, image: Image.Image, text: str) -> np.ndarray:
        soft = self.soft(image, text)
        return _to_image_size(
            _threshold_and_clean(soft, self.threshold, self.clean, self.min_area, self.keep), image.size
        )


def _unit_max(grid) -> np.ndarray:
    g = np.clip(np.nan_to_num(np.asarray(grid, np.float32)), 0, None)
    top = float(g.max()) if g.size else 0.0
    return g / top if top > 0 else g


@register
class ClipSegSegmenter(SegmentationProvider):
    """CLIPSeg (Lüddecke & Ecker) from a local folder saved with ``save_pretrained`` (processor and model)."""

    name = "clipseg"
    label = "CLIPSeg (local model)"
    order = 20
    description = "CLIPSeg's text-prompted mask from a local model folder (segmentation.clipseg_path)."

    def __init__(
        self,
        path: str | Path,
        threshold: str | float = 0.4,
        min_area: float = 0.01,
        keep: int = 1,
        clean: bool = True,
        device: Any = "cpu",
    ):
        path_s = str(path or "").strip()
        if not path_s:
            raise SegmentationUnavailable(
                "The clipseg segmentation provider needs a local CLIPSeg model folder: set segmentation.clipseg_path "
                "(e.g. a folder written by CLIPSegForImageSegmentation.save_pretrained, such as "
                "CIDAS/clipseg-rd64-refined), or use segmentation.provider = saliency."
            )
        self.path = Path(path_s).expanduser()
        if not self.path.is_dir() or not (self.path / "config.json").is_file():
            raise SegmentationUnavailable(
                f"segmentation.clipseg_path={path_s!r} is not a CLIPSeg model folder (no config.json there); "
                "save one with CLIPSegForImageSegmentation.save_pretrained and CLIPSegProcessor.save_pretrained."
            )
        try:  # an optional package, imported by name (not a dependency of the project)
            self._transformers = importlib.import_module("transformers")
        except ModuleNotFoundError:
            raise SegmentationUnavailable(
                "The clipseg segmentation provider needs the transformers package (pip install transformers); "
                "or use segmentation.provider = saliency."
            ) from None
        model_cls = self._transformers.CLIPSegForImageSegmentation
        try:
            self.model = model_cls.from_pretrained(str(self.path), local_files_only=True).eval()
        except (OSError, ValueError) as exc:
            raise SegmentationUnavailable(f"CLIPSeg model at {self.path} could not be loaded: {exc}") from None
        self.model.to(device)
        self.device = device
        self.processor = self._processor()
        self.threshold = parse_threshold(threshold)
        self.min_area, self.keep, self.clean = float(min_area), int(keep), bool(clean)

    def _processor(self):
        try:
            return self._transformers.CLIPSegProcessor.from_pretrained(str(self.path), local_files_only=True)
        except (OSError, ValueError, TypeError) as exc:
            raise SegmentationUnavailable(
                f"CLIPSeg processor (tokenizer and image processor) at {self.path} could not be loaded: {exc}"
            ) from None

    @classmethod
    def from_config(cls, bundle, cfg: SegmentationConfig) -> ClipSegSegmenter:
        # CLIPSeg's output is a probability: "otsu" or an absolute cut in (0, 1].
        return cls(
            cfg.clipseg_path,
            threshold=cfg.clipseg_threshold,
            min_area=cfg.min_area,
            keep=cfg.keep,
            device=getattr(bundle, "device", "cpu") if bundle is not None else "cpu",
        )

    def key(self) -> tuple:
        return (self.name, str(self.path), self.threshold, self.min_area, self.keep, self.clean)

    def probabilities(self, image: Image.Image, text: str) -> np.ndarray:
        """CLIPSeg's per-pixel probability at the working size (the processor resizes the whole image)."""
        import torch

        inputs = self.processor(text=[text], images=[image.convert("RGB")], return_tensors="pt", padding=True)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with torch.inference_mode():
            logits = self.model(**inputs).logits
        prob = torch.sigmoid(logits.float().reshape(-1, *logits.shape[-2:])[0]).cpu().numpy()
        w, h = _work_size(image.size)
        return np.asarray(Image.fromarray(prob.astype(np.float32), mode="F").resize((w, h), Image.Resampling.BILINEAR))

    def mask(self, image: Image.Image, text: str) -> np.ndarray:
        prob = self.probabilities(image, text)
        t = self.threshold
        raw = prob > otsu_threshold(prob) if t == "otsu" else prob >= float(t)
        m = clean_mask(raw, self.min_area, self.keep) if self.clean else raw
        return _to_image_size(m, image.size)


def timed_mask(provider: SegmentationProvider, image: Image.Image, text: str) -> tuple[np.ndarray, float]:
    """(mask, seconds)."""
    t0 = time.perf_counter()
    m = provider.mask(image, text)
    return m, time.perf_counter() - t0


@dataclass
class TextMask:
    """One referring mask for display: the mask at the display size, its share of the image, the provider."""

    mask: np.ndarray  # bool [H, W] at the display size
    text: str
    provider: str  # the provider's label
    seconds: float

    @property
    def area(self) -> float:
        return float(self.mask.mean()) if self.mask.size else 0.0


def outline_rgba(
    mask: np.ndarray, colour: tuple[int, int, int] = (0, 229, 255), width: int = 2, tint: int = 60
) -> Image.Image:
    """An RGBA layer for a boolean mask: an opaque ``width``-px outline along its boundary and a light
    ``tint`` (alpha 0..255) inside, transparent elsewhere, so the image stays readable under it."""
    from scipy import ndimage as ndi

    m = np.asarray(mask, bool)
    inner = ndi.binary_erosion(m, iterations=max(1, width), border_value=0)
    edge = m & ~inner
    rgba = np.zeros((*m.shape, 4), np.uint8)
    rgba[..., :3] = colour
    rgba[..., 3] = np.where(edge, 255, np.where(m, tint, 0))
    return Image.fromarray(rgba, "RGBA")
