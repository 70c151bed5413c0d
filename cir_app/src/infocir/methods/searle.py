"""SEARLE (Baldrati et al., ICCV 2023): φ maps the reference image to a pseudo-word token,
which replaces ``$`` in "a photo of $ that {text}"; the text encoder's output is the query."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from infocir.methods.base import CIRMethod, MethodContext, MethodUnavailable, Query
from infocir.methods.registry import register
from infocir.models.encoders import ASSET_DIR
from infocir.models.encoding import l2_normalize

log = logging.getLogger(__name__)
SEARLE_TEMPLATE_WORDS = ("a", "photo", "of", "$", "that")  # "a photo of $ that {text}" before the user's text
HUB_HINT = (
    "For ViT-B/32 or ViT-L/14 with internet, set model.phi_checkpoint=hub:ViT-B/32 (or hub:ViT-L/14) to fetch "
    "the public φ once via torch.hub."
)


def fetch_hub_phi(backbone: str, cache_dir: Path) -> Path:
    """Download the public φ once via torch.hub (needs internet) and keep it as ``{'Phi': ...}``
    in the cache, so every later load goes through ``load_phi`` offline."""
    from infocir.models.textual_inversion import PhiCheckpointError

    target = cache_dir / f"searle-phi-{backbone.replace('/', '')}.pt"
    if not target.is_file():
        import torch

        try:
            loaded = torch.hub.load("miccunifi/SEARLE", "searle", backbone=backbone)
        except Exception as exc:  # network, hub or repository errors: one message for the user
            raise PhiCheckpointError(
                f"Could not fetch SEARLE φ for {backbone} from torch.hub (needs internet): {exc}"
            ) from None
        phi = loaded[0] if isinstance(loaded, tuple) else loaded
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"Phi": phi.state_dict()}, target)
    return target


def phi_path(ctx: MethodContext) -> Path | None:
    """The configured φ checkpoint: "demo" (the committed one for the demo model), "hub:ViT-B/32"
    or "hub:ViT-L/14" (the public weights, fetched once), a file path, or "" (none)."""
    setting = ctx.config.model.phi_checkpoint
    if not setting:
        return None
    if setting == "demo":
        p = ASSET_DIR / f"{ctx.bundle.name}.searle-phi.pt"
        return p if p.is_file() else None
    if setting.startswith("hub:"):
        return fetch_hub_phi(setting[4:] or "ViT-B/32", ctx.config.cache_dir / "searle")
    return Path(setting).expanduser()


def _no_phi(ctx: MethodContext) -> str:
    return f"no φ checkpoint for {ctx.bundle.name} (set model.phi_checkpoint). {HUB_HINT}"


def get_phi(ctx: MethodContext):
    """Load φ once per engine (cached in the method context)."""
    from infocir.models.textual_inversion import load_phi

    if "phi" not in ctx.cache:
        path = phi_path(ctx)
        if path is None:
            raise MethodUnavailable(_no_phi(ctx))
        ctx.cache["phi"] = ctx.bundle.adopt(load_phi(path, ctx.bundle.embed_dim, ctx.bundle.token_dim))
    return ctx.cache["phi"]


@register
class Searle(CIRMethod):
    name = "searle"
    order = 20
    label = "SEARLE (φ)"
    description = "Textual inversion with the φ network: 'a photo of $ that {text}', $ = φ(reference)."
    reference_differentiable = True
    uses_phi = True
    template_words = len(SEARLE_TEMPLATE_WORDS)

    def availability(self, ctx: MethodContext) -> tuple[bool, str]:
        try:
            p = phi_path(ctx)
        except Exception as exc:  # e.g. the hub download failed offline
            return False, str(exc)
        if p is None:
            return False, _no_phi(ctx)
        if not p.is_file():
            return False, f"φ checkpoint {p} does not exist."
        try:
            get_phi(ctx)
        except Exception as exc:  # a bad checkpoint makes the method unavailable, with the loader's reason
            return False, str(exc)
        return True, ""

    def pseudo_token(self, ctx: MethodContext, query: Query):
        """φ(reference) [1, d_tok] on the model's device."""
        with ctx.bundle.encoding():
            return get_phi(ctx)(ctx.bundle.tensor(query.require_reference(raw=True)[None])).to(ctx.bundle.float_dtype)

    def prompt(self, query: Query) -> str:
        """The text the method encodes, with ``$`` standing for the reference's pseudo-word."""
        from infocir.models.textual_inversion import SEARLE_PROMPT

        return SEARLE_PROMPT.format(text=query.text.strip())

    def compose_from_image(self, ctx: MethodContext, query: Query, image_emb):
        """φ(image) as the pseudo-word, through the text encoder: differentiable in the image."""
        from infocir.models.textual_inversion import encode_text_with_pseudo, pseudo_token_id

        b = ctx.bundle
        pseudo = get_phi(ctx)(image_emb.to(b.float_dtype))
        tokens = b.tokens([self.prompt(query)] * image_emb.shape[0])
        return encode_text_with_pseudo(b.model, tokens, pseudo, pseudo_token_id(b.tokenizer))

    def compose(self, ctx: MethodContext, query: Query) -> np.ndarray:
        from infocir.models.textual_inversion import encode_text_with_pseudo, pseudo_token_id

        b = ctx.bundle
        tokens = b.tokens([self.prompt(query)])
        pseudo = self.pseudo_token(ctx, query)  # outside inference mode: OTI needs gradients
        with b.encoding():
            feat = encode_text_with_pseudo(b.model, tokens, pseudo, pseudo_token_id(b.tokenizer))
        return l2_normalize(b.numpy(feat[0]))
