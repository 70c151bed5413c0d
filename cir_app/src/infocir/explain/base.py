"""Shared pieces of the explainers: targets (what to explain), hook capture, the registry.

A *target* turns the model's image (or text) embedding into the scalar being explained,
e.g. "cosine similarity of this image to the composed query".  Explainers only see the
target, so one explainer serves the reference, the candidates and the text alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from infocir.errors import UserError
from infocir.registry import Registry

if TYPE_CHECKING:
    import torch

Target = Callable[["torch.Tensor"], "torch.Tensor"]  # embedding [B, D] -> score [B]


def similarity_target(vector: np.ndarray, bundle) -> Target:
    """Cosine similarity of the embedding to a fixed vector (the composed query, a text, an image),
    computed on the bundle's device in float32 (float64 for an fp64 bundle)."""
    import torch.nn.functional as F

    v = bundle.tensor(np.asarray(vector, np.float32))
    v = v / v.norm().clamp_min(1e-12)

    def target(emb: torch.Tensor) -> torch.Tensor:
        return F.normalize(emb.to(v.dtype), dim=-1) @ v

    return target


def composed_target(compose: Callable[[torch.Tensor], torch.Tensor], candidate: np.ndarray, bundle) -> Target:
    """Cosine similarity of a candidate image to the query composed *from* the explained image:
    ``compose`` maps the reference's raw embedding [B, D] to the composed query [B, D] (e.g. through
    SEARLE's φ and the text encoder), so the map shows what in the reference made this candidate
    score as it did."""
    import torch.nn.functional as F

    c = bundle.tensor(np.asarray(candidate, np.float32))
    c = c / c.norm().clamp_min(1e-12)

    def target(emb: torch.Tensor) -> torch.Tensor:
        return F.normalize(compose(emb).to(c.dtype), dim=-1) @ c

    return target


def norm_target(module) -> Target:
    """The norm of ``module``'s output for the image embedding, e.g. ‖φ(image)‖: which regions make
    the pseudo-word strong."""

    def target(emb: torch.Tensor) -> torch.Tensor:
        p = next(module.parameters())
        return module(emb.to(p.dtype)).float().norm(dim=-1)

    return target


@dataclass
class Captured:
    """What a forward hook saw: the module's first input and first output, per call."""

    inputs: list
    outputs: list


@contextmanager
def capture(modules: list) -> Iterator[list[Captured]]:
    """Record input[0] and output[0] of each module's forward; the hooks are removed on exit,
    also when the body raises (a leaked hook would slow or corrupt every later forward).
    Only calls from the calling thread are recorded."""
    import threading

    records = [Captured([], []) for _ in modules]
    handles = []
    owner = threading.get_ident()

    def make(rec: Captured):
        def hook(module, args, output):
            # The model is shared: only record this thread's forward, not another session's search.
            if threading.get_ident() != owner:
                return
            rec.inputs.append(args[0])
            rec.outputs.append(output[0] if isinstance(output, tuple) else output)

        return hook

    try:
        for m, rec in zip(modules, records, strict=True):
            handles.append(m.register_forward_hook(make(rec)))
        yield records
    finally:
        for h in handles:
            h.remove()


@contextmanager
def grad_leaf(module) -> Iterator[dict]:
    """Make ``module``'s output (e.g. the token embeddings) a leaf that requires grad, so
    gradients reach it even when the weights are frozen; yields {"leaf": tensor} after the
    forward.  Only this thread's forwards are touched (the model is shared by sessions)."""
    import threading

    owner, seen = threading.get_ident(), {}

    def hook(module, args, out):
        if threading.get_ident() != owner:
            return None
        seen["leaf"] = out.detach().requires_grad_(True)
        return seen["leaf"]

    handle = module.register_forward_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


def qkv(attn, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Queries, keys and values of an ``nn.MultiheadAttention`` for its (self-attention) input x
    [B, L, W] (batch first), each reshaped to [B, L, heads, head_dim].

    Computed from ``in_proj_weight`` because the module's own forward uses ``F.linear`` and
    never exposes them (hooks on sub-modules do not fire)."""
    import torch.nn.functional as F

    if getattr(attn, "_qkv_same_embed_dim", True):
        q, k, v = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    else:
        bq, bk, bv = attn.in_proj_bias.chunk(3) if attn.in_proj_bias is not None else (None,) * 3
        q, k, v = (
            F.linear(x, attn.q_proj_weight, bq),
            F.linear(x, attn.k_proj_weight, bk),
            F.linear(x, attn.v_proj_weight, bv),
        )
    B, L, _ = x.shape
    h = attn.num_heads
    return q.reshape(B, L, h, -1), k.reshape(B, L, h, -1), v.reshape(B, L, h, -1)


def batch_first(x: torch.Tensor, attn) -> torch.Tensor:
    """A hooked attention tensor as [B, L, W] whatever the module's layout."""
    return x if getattr(attn, "batch_first", False) else x.transpose(0, 1)


def minmax(x: torch.Tensor, dim: int) -> torch.Tensor:
    lo, hi = x.amin(dim=dim, keepdim=True), x.amax(dim=dim, keepdim=True)
    return (x - lo) / (hi - lo).clamp_min(1e-12)


def patch_grid(visual) -> tuple[int, int]:
    """The patch grid of the model's actual input size (e.g. 8×8 for 64 px / patch 8, 7×7 for 224 / 32)."""
    g = getattr(visual, "grid_size", None)
    if g is not None:
        return (int(g[0]), int(g[1])) if isinstance(g, (tuple, list)) else (int(g), int(g))
    n = int(visual.positional_embedding.shape[0]) - 1
    s = int(round(n**0.5))
    return s, s


class ExplainerUnsupported(UserError, ValueError):
    """The model's architecture is not one this explainer knows (e.g. a ResNet for Grad-ECLIP)."""


class ImageExplainer(ABC):
    """Maps (model, preprocessed image [1,3,S,S], target) to a saliency grid over the patch grid."""

    name: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str]
    needs_target: ClassVar[bool] = True
    in_ui: ClassVar[bool] = True
    order: ClassVar[int] = 100  # position in listings (Grad-ECLIP first)

    signed: ClassVar[bool] = False  # whether ``maps`` also gives the map before its ReLU (evidence against)

    @abstractmethod
    def grid(self, model, pixels: torch.Tensor, target: Target) -> np.ndarray:
        """Non-negative saliency [gh, gw] on the model's patch grid."""

    def maps(self, model, pixels: torch.Tensor, target: Target) -> tuple[np.ndarray, np.ndarray | None]:
        """(``grid``, the signed map it keeps the positive part of, or None) from one pass; explainers whose
        published map is a ReLU'd sum (``signed = True``) override it, so the dashboard can show both sides."""
        return self.grid(model, pixels, target), None


EXPLAINERS: Registry[type[ImageExplainer]] = Registry("explainer", "infocir.explain")
register = EXPLAINERS.register


def list_explainers(ui_only: bool = False) -> list[type[ImageExplainer]]:
    """Registered explainers in a stable order (Grad-ECLIP first)."""
    return [c for _, c in EXPLAINERS.ordered() if c.in_ui or not ui_only]


def create_explainer(name: str, **params) -> ImageExplainer:
    return EXPLAINERS.lookup(name)(**params)
