"""Loading CLIP encoders through open_clip's factory.

A model is named like any open_clip model ("ViT-B-32", or one of the JSON configs
registered from ``models/configs``) and ``pretrained`` is either an open_clip tag
(downloads; for users with internet), a local checkpoint file, or empty for random
weights (tests).  The preprocessing transform travels with the model so that index
build and query encoding cannot drift apart.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from infocir.errors import UserError

if TYPE_CHECKING:
    import numpy as np
    import torch

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).parent / "configs"
ASSET_DIR = Path(__file__).parent / "assets"
PREPROCESS_KINDS = ("targetpad", "clip")
PRECISIONS = ("auto", "fp32", "fp16", "bf16", "fp64")
_registered: set[str] = set()
_lock = threading.Lock()


class ModelLoadError(UserError, RuntimeError):
    """A model could not be created or its weights could not be loaded (message says how to fix)."""


def register_model_configs(*dirs: str | os.PathLike) -> None:
    """Make JSON model configs in ``dirs`` (and the project's own) loadable by name. Idempotent."""
    import open_clip

    with _lock:
        for d in (CONFIG_DIR, *dirs):
            key = str(Path(d).resolve())
            if key not in _registered:
                open_clip.add_model_config(key)
                _registered.add(key)


def targetpad_padding(size: tuple[int, int], target_ratio: float) -> tuple[int, int]:
    """SEARLE's TargetPad: the (horizontal, vertical) padding on each side of a ``(w, h)`` image.

    An image whose aspect ratio max/min is below ``target_ratio`` is left alone; otherwise it is
    padded (black, both sides equally) only until the short side reaches max/``target_ratio``, so
    a 640×480 image becomes 640×512 at 1.25, not a square.  Offsets are truncated to whole pixels
    as in the public code."""
    w, h = size
    if max(w, h) / min(w, h) < target_ratio:
        return 0, 0
    scaled = max(w, h) / target_ratio
    return max(int((scaled - w) / 2), 0), max(int((scaled - h) / 2), 0)


class TargetPad:
    """SEARLE's preprocessing step before resize + centre crop (see :func:`targetpad_padding`)."""

    def __init__(self, target_ratio: float = 1.25):
        self.target_ratio = target_ratio

    def __call__(self, image: Image.Image) -> Image.Image:
        hp, vp = targetpad_padding(image.size, self.target_ratio)
        if not (hp or vp):
            return image
        w, h = image.size
        canvas = Image.new(image.mode, (w + 2 * hp, h + 2 * vp))
        canvas.paste(image, (hp, vp))
        return canvas


def uses_quick_gelu(name: str, pretrained: str, setting: str = "auto") -> bool:
    """Whether to build ``name`` with QuickGELU activations.

    OpenAI's CLIP weights were trained with QuickGELU (x·σ(1.702x)); open_clip's plain "ViT-B-32"
    config uses nn.GELU and only warns when given the "openai" weights, so φ would see features of a
    different network.  "auto" forces QuickGELU for the "openai" tag (the "-quickgelu" configs
    already have it); "true"/"false" decide for local checkpoints of known origin."""
    if setting in ("true", "false"):
        return setting == "true"
    return pretrained == "openai" and not name.endswith("-quickgelu")


def resolve_device(setting: str = "auto") -> torch.device:
    """The torch device for ``model.device``: "auto" (CUDA when torch sees a GPU, else the CPU),
    "cpu", "cuda", "cuda:N" or "mps".  A GPU request on a machine without one is a ModelLoadError."""
    import torch

    setting = (setting or "auto").strip().lower()
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(setting)
    except (RuntimeError, ValueError):
        raise ModelLoadError(f"model.device={setting!r} is not a device; use auto, cpu, cuda, cuda:N or mps.") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelLoadError(
                f"model.device={setting!r} was requested but torch sees no CUDA GPU (torch {torch.__version__}, "
                f"built for CUDA {torch.version.cuda or 'none'}). Use model.device=auto or cpu."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ModelLoadError(
                f"model.device={setting!r}: only {torch.cuda.device_count()} CUDA device(s) are visible."
            )
    elif dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ModelLoadError("model.device='mps' was requested but the MPS backend is not available here.")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ModelLoadError(f"model.device={setting!r}: only cpu, cuda and mps are supported.")
    return dev


def resolve_precision(setting: str, device: torch.device) -> str:
    """``model.precision`` for a device: "auto" is fp16 autocast on CUDA and fp32 elsewhere."""
    if setting not in PRECISIONS:
        raise ModelLoadError(f"model.precision must be one of {PRECISIONS}, got {setting!r}")
    if setting == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    return setting


@dataclass
class ClipBundle:
    """An open_clip model with its preprocessing and tokenizer, plus what identifies it.

    The bundle owns the device and the precision: every tensor the engine hands to the model
    goes through :meth:`tensor`, :meth:`pixels` or :meth:`tokens`, every extra module through
    :meth:`adopt`, and encoding runs under :meth:`autocast`.  Weights are float32 on the device
    (float64 for ``fp64``, a numerics check); ``fp16``/``bf16`` are autocast, so gradients for
    explanations, which run outside autocast, stay in float32.
    """

    model: Any  # open_clip.CLIP (an untyped library; not imported here so importing this module stays cheap)
    preprocess: Callable[[Image.Image], torch.Tensor]
    tokenizer: Callable
    name: str
    pretrained: str
    weights_hash: str
    preprocess_kind: str
    device: Any = "cpu"  # torch.device
    precision: str = "fp32"  # resolved: fp32 | fp16 | bf16 | fp64
    targetpad_ratio: float = 1.25  # SEARLE's TargetPad ratio (targetpad preprocessing only)

    @property
    def preprocess_id(self) -> str:
        """The preprocessing as recorded in index manifests ("clip", "targetpad@1.25")."""
        return f"targetpad@{self.targetpad_ratio:g}" if self.preprocess_kind == "targetpad" else self.preprocess_kind

    @property
    def image_size(self) -> int:
        size = self.model.visual.image_size
        return int(size[0] if isinstance(size, (tuple, list)) else size)

    @property
    def embed_dim(self) -> int:
        return int(self.model.text_projection.shape[1])

    @property
    def token_dim(self) -> int:
        return int(self.model.token_embedding.weight.shape[1])

    @property
    def float_dtype(self) -> torch.dtype:
        """The dtype of the model's weights and of every floating tensor handed to it."""
        import torch

        return torch.float64 if self.precision == "fp64" else torch.float32

    def tensor(self, x: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
        """An array or tensor on the model's device; floating values in the model's dtype
        (or ``dtype``), integers unchanged."""
        import numpy as np
        import torch

        if not isinstance(x, torch.Tensor):
            x = torch.from_numpy(np.ascontiguousarray(x))
        if dtype is None and x.is_floating_point():
            dtype = self.float_dtype
        return x.to(device=self.device, dtype=dtype, non_blocking=True)

    def adopt(self, module: torch.nn.Module) -> torch.nn.Module:
        """Put an extra module (φ, a probe) on the model's device and dtype."""
        return module.to(device=self.device, dtype=self.float_dtype)

    def pixels(self, images: list[Image.Image]) -> torch.Tensor:
        """Preprocess PIL images exactly as the index does: [B, 3, S, S] on the device."""
        import torch

        return self.tensor(torch.stack([self.preprocess(im) for im in images]))

    def tokens(self, texts: list[str]) -> torch.Tensor:
        """Token ids [B, context] of ``texts`` on the device."""
        return self.tensor(self.tokenizer(list(texts)))

    def autocast(self):
        """The precision context for encoding (a no-op for fp32/fp64)."""
        import torch

        if self.precision in ("fp16", "bf16"):
            dtype = torch.float16 if self.precision == "fp16" else torch.bfloat16
            return torch.autocast(device_type=torch.device(self.device).type, dtype=dtype)
        return nullcontext()

    @contextmanager
    def encoding(self) -> Iterator[None]:
        """No gradients, and the configured precision: the context for every plain forward."""
        import torch

        with torch.inference_mode(), self.autocast():
            yield

    @staticmethod
    def numpy(t: torch.Tensor) -> np.ndarray:
        """A tensor back on the host as float32 numpy (from any device or dtype)."""
        return host_numpy(t)


def host_numpy(t: torch.Tensor) -> np.ndarray:
    """A tensor back on the host as float32 numpy (from any device or dtype)."""
    return t.detach().float().cpu().numpy()


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def state_hash(model) -> str:
    """A hash of the model's parameters (used for random or in-memory weights)."""
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def load_clip(
    name: str,
    pretrained: str | None = None,
    preprocess: str = "targetpad",
    device: str = "cpu",
    seed: int = 0,
    config_dirs: tuple[str, ...] = (),
    precision: str = "auto",
    targetpad_ratio: float = 1.25,
    quick_gelu: str = "auto",
) -> ClipBundle:
    """Create an open_clip model by name.

    ``pretrained``: an open_clip tag (e.g. "openai", needs internet), a path to a local
    checkpoint (a state dict, optionally under "state_dict"), or None/"" for random
    weights drawn with ``seed``.  ``device`` and ``precision`` as in ``model.device`` /
    ``model.precision`` (see :func:`resolve_device`, :func:`resolve_precision`);
    ``targetpad_ratio`` is SEARLE's TargetPad ratio; ``quick_gelu`` see :func:`uses_quick_gelu`.
    """
    import open_clip
    import torch
    from torchvision import transforms

    if preprocess not in PREPROCESS_KINDS:
        raise ModelLoadError(f"preprocess must be one of {PREPROCESS_KINDS}, got {preprocess!r}")
    register_model_configs(*config_dirs)
    if name not in open_clip.list_models():
        raise ModelLoadError(
            f"Unknown CLIP model {name!r}. Use an open_clip name (e.g. ViT-B-32) or register a JSON config "
            f"directory (models.config_dirs). Local configs: {sorted(p.stem for p in CONFIG_DIR.glob('*.json'))}"
        )
    source = pretrained or ""
    is_file = bool(source) and (os.path.sep in source or source.endswith((".pt", ".pth", ".bin", ".safetensors")))
    if is_file and not Path(source).is_file():
        raise ModelLoadError(f"Checkpoint file not found: {source}. Point model.pretrained at an existing file.")
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    torch.manual_seed(seed)
    try:
        # Built on the CPU (random init draws from the CPU generator, so a seed gives the same
        # weights on every device), then moved once.
        qg = uses_quick_gelu(name, source, quick_gelu)
        model, _, val_transform = open_clip.create_model_and_transforms(
            name, pretrained=(source or None), force_quick_gelu=qg
        )
    except Exception as exc:  # open_clip raises many types; the user needs one clear message
        where = "local checkpoint" if is_file else ("open_clip tag (needs internet)" if source else "config")
        raise ModelLoadError(f"Could not load CLIP model {name!r} from {where} {source!r}: {exc}") from exc
    model.eval()
    if preprocess == "targetpad":
        val_transform = transforms.Compose([TargetPad(targetpad_ratio), val_transform])
    if is_file:
        weights_hash = file_sha256(source)
    elif source:
        weights_hash = f"open_clip:{name}:{source}" + (":quickgelu" if qg and not name.endswith("-quickgelu") else "")
    else:
        weights_hash = "random:" + state_hash(model)[:32]
    model.to(device=dev, dtype=torch.float64 if prec == "fp64" else torch.float32)
    log.info("CLIP model %s on %s (%s)%s", name, dev, prec, ", QuickGELU activations" if qg else "")
    return ClipBundle(
        model=model,
        preprocess=val_transform,
        tokenizer=open_clip.get_tokenizer(name),
        name=name,
        pretrained=source,
        weights_hash=weights_hash,
        preprocess_kind=preprocess,
        device=dev,
        precision=prec,
        targetpad_ratio=float(targetpad_ratio),
    )
