"""Batch encoding of images and texts with a loaded ClipBundle (no I/O beyond opening images)."""

from __future__ import annotations

import numpy as np
from PIL import Image

# Images are opened in one place (pixel cap, EXIF orientation, transparency): data/images.py.
from infocir.data.images import ImageReadError, open_rgb  # noqa: F401 - re-exported for the callers
from infocir.models.encoders import ClipBundle


def encode_images(bundle: ClipBundle, images: list[Image.Image]) -> np.ndarray:
    """Raw (unnormalised) ``encode_image`` features, float32 [n, embed_dim]."""
    import torch

    if not images:
        return np.zeros((0, bundle.embed_dim), np.float32)
    return encode_pixels(bundle, torch.stack([bundle.preprocess(im) for im in images]))  # host: moved in encode_pixels


def encode_pixels(bundle: ClipBundle, pixels) -> np.ndarray:
    """Raw features of already preprocessed images [B, 3, S, S] (host or device), float32 [B, D]."""
    with bundle.encoding():
        return bundle.numpy(bundle.model.encode_image(bundle.tensor(pixels)))


def encode_texts(bundle: ClipBundle, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """Raw ``encode_text`` features, float32 [n, embed_dim].

    For CLIP text towers (causal mask, pooled at the end-of-text token) the sequences are cut after the
    batch's last end-of-text token (``encode_text_with_pseudo``): positions after it cannot change the
    pooled output, and a short prompt then costs ~10 of the 77 positions.  Other towers run as written."""
    from infocir.models.textual_inversion import encode_text_with_pseudo, supports_eot_cut

    encode = (
        (lambda tokens: encode_text_with_pseudo(bundle.model, tokens, None))
        if supports_eot_cut(bundle.model)
        else bundle.model.encode_text
    )
    out = []
    with bundle.encoding():
        for i in range(0, len(texts), batch_size):
            out.append(bundle.numpy(encode(bundle.tokens(texts[i : i + batch_size]))))
    return np.concatenate(out) if out else np.zeros((0, bundle.embed_dim), np.float32)


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Unit-length rows (zero rows stay zero)."""
    n = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.maximum(n, 1e-12)
