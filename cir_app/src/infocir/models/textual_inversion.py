"""Textual inversion shared by SEARLE and OTI: the φ network, its checkpoint format,
text encoding with a pseudo-word token, and optimisation-based inversion (OTI).

Facts (../shared/ALGORITHMS.md): φ is Linear(d_img, 4·d_tok) → GELU → Dropout(0.5) →
Linear(4·d_tok, 4·d_tok) → GELU → Dropout(0.5) → Linear(4·d_tok, d_tok), stored under the
key ``Phi`` (``layers.0/3/6.*``); its input is the raw ``encode_image`` output.  The
pseudo-word is the ``$`` token (id 259 in the CLIP BPE vocabulary) in "a photo of $ that …".
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from infocir.errors import UserError

PSEUDO_TOKEN = "$"
SEARLE_PROMPT = "a photo of $ that {text}"
OTI_PROMPT = "a photo of $"


class PhiCheckpointError(UserError, ValueError):
    """A φ checkpoint is missing, unreadable or does not fit the CLIP model."""


class Phi(nn.Module):
    """SEARLE's textual-inversion network: image feature → pseudo-word token embedding."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, dropout: float = 0.5):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(input_dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, output_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def load_phi(path: str | os.PathLike, embed_dim: int, token_dim: int) -> Phi:
    """Load a SEARLE φ checkpoint (``{"Phi": state_dict}``) and check it fits the CLIP model."""
    p = Path(path)
    if not p.is_file():
        raise PhiCheckpointError(
            f"SEARLE φ checkpoint not found: {p}. Set model.phi_checkpoint to a .pt file with key 'Phi'."
        )
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for bad files
        raise PhiCheckpointError(f"SEARLE φ checkpoint {p} cannot be read ({exc}).") from None
    state = ckpt.get("Phi") if isinstance(ckpt, dict) else None
    if state is None:
        keys = list(ckpt)[:5] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise PhiCheckpointError(f"{p} has no 'Phi' entry (found {keys}); expected a SEARLE checkpoint.")
    try:
        w0, w6 = state["layers.0.weight"], state["layers.6.weight"]
    except KeyError:
        raise PhiCheckpointError(f"{p}: 'Phi' lacks layers.0/layers.6 weights; not a SEARLE φ network.") from None
    in_dim, hidden, out_dim = int(w0.shape[1]), int(w0.shape[0]), int(w6.shape[0])
    if in_dim != embed_dim or out_dim != token_dim:
        raise PhiCheckpointError(
            f"SEARLE φ in {p} maps {in_dim}-d image features to {out_dim}-d tokens, but the CLIP model has "
            f"{embed_dim}-d image features and {token_dim}-d token embeddings. Use the φ trained for this backbone "
            f"(e.g. ViT-B/32: 512→512, ViT-L/14: 768→768)."
        )
    phi = Phi(in_dim, hidden, out_dim)
    phi.load_state_dict({k: v.float() for k, v in state.items()})
    return phi.eval()


def save_phi(phi: Phi, path: str | os.PathLike, half: bool = True, extra: dict | None = None) -> None:
    """Write ``{"Phi": state_dict}`` (the public SEARLE format), atomically."""
    state = {k: (v.half() if half else v).cpu() for k, v in phi.state_dict().items()}
    tmp = Path(str(path) + ".tmp")
    torch.save({"Phi": state, **(extra or {})}, tmp)
    os.replace(tmp, path)


def pseudo_token_id(tokenizer) -> int:
    """The id of ``$`` as a word (259 for the CLIP BPE vocabulary)."""
    ids = tokenizer([PSEUDO_TOKEN])[0].tolist()  # host: only the id is read
    return int(ids[1])


def _tower(model):
    """The text-tower parts of an open_clip CLIP (or CustomTextCLIP) model."""
    return getattr(model, "text", model)


def supports_eot_cut(model) -> bool:
    """True for a CLIP-style text tower whose output is pooled at the end-of-text token (the highest token id)
    under a causal mask: the towers ``encode_text_with_pseudo`` reproduces exactly.  False for the others
    (CoCa's class token, first/last pooling, towers without a causal mask, Hugging Face text models)."""
    t = _tower(model)
    pool = getattr(t, "text_pool_type", getattr(t, "pool_type", None))
    needed = ("token_embedding", "positional_embedding", "transformer", "ln_final", "text_projection")
    return (
        pool == "argmax"
        and getattr(t, "attn_mask", None) is not None
        and getattr(t, "cls_emb", None) is None
        and all(hasattr(t, name) for name in needed)
    )


def first_pseudo_positions(tokens: torch.Tensor, token_id: int) -> torch.Tensor:
    """Bool [B, L]: True at the first ``token_id`` of each row (none for rows without it)."""
    hit = tokens == token_id
    return hit & (hit.cumsum(-1) == 1)


def encode_text_with_pseudo(
    model, tokens: torch.Tensor, pseudo: torch.Tensor | None, token_id: int = 259
) -> torch.Tensor:
    """``encode_text`` where the first ``token_id`` position of each row uses the embedding
    ``pseudo`` [B, d_tok] (SEARLE replaces the template's pseudo-word only: a ``$`` the user typed
    later in the prompt stays the word "$").

    Rows of ``tokens`` without the token (or ``pseudo=None``) are encoded as usual.  Returns
    raw features [B, D].  Sequences are cropped after the last end-of-text token: with the
    causal mask, later positions cannot change the pooled EOT output, so this is exact and
    several times faster for short prompts.
    """
    t = _tower(model)
    cast = t.transformer.get_cast_dtype() if hasattr(t.transformer, "get_cast_dtype") else torch.float32
    eot = tokens.argmax(dim=-1)  # the end-of-text token has the highest id
    length = int(eot.max()) + 1
    tokens = tokens[:, :length]
    x = t.token_embedding(tokens).to(cast)
    if pseudo is not None:
        mask = first_pseudo_positions(tokens, token_id).unsqueeze(-1)
        x = torch.where(mask, pseudo.to(cast).unsqueeze(1).expand_as(x), x)
    x = x + t.positional_embedding[:length].to(cast)
    attn_mask = t.attn_mask[:length, :length] if t.attn_mask is not None else None
    x = t.transformer(x, attn_mask=attn_mask)
    x = t.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), eot]
    proj = t.text_projection
    if proj is not None:
        x = proj(x) if isinstance(proj, nn.Linear) else x @ proj
    return x


def regulariser_targets(bundle, concepts: list[str], suffixes: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of "a photo of $ that S" and unit features of "a photo of <concept> that S" (on the device)."""
    with torch.no_grad():
        plain = bundle.tokens([f"a photo of {c} that {s}" for c, s in zip(concepts, suffixes, strict=True)])
        target = F.normalize(encode_text_with_pseudo(bundle.model, plain, None), dim=-1)
    return bundle.tokens([f"a photo of {PSEUDO_TOKEN} that {s}" for s in suffixes]), target


def regulariser_loss(
    model, pseudo: torch.Tensor, targets: tuple[torch.Tensor, torch.Tensor], token_id: int
) -> torch.Tensor:
    """SEARLE's phrase regulariser: "a photo of $ that S" should encode like "a photo of <concept> that S"."""
    tokens, target = targets
    got = F.normalize(encode_text_with_pseudo(model, tokens, pseudo, token_id), dim=-1)
    return (1 - (got * target).sum(-1)).mean()


@contextmanager
def frozen(model):
    """Parameters without gradients inside the block; their previous flags restored after it."""
    params = list(model.parameters())
    was = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, w in zip(params, was, strict=True):
            p.requires_grad_(w)


def oti(
    bundle,
    image_features: torch.Tensor,
    reg_targets: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    steps: int = 350,
    lr: float = 2e-2,
    weight_decay: float = 0.01,
    ema: float = 0.99,
    reg_weight: float = 0.5,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Optimisation-based textual inversion for a batch of raw image features [B, D].

    Loss = (L_cos(text("a photo of $"), image) + reg_weight·L_reg) / (1 + reg_weight), with
    AdamW and an exponential moving average of the token (returned) [B, d_tok].
    ``reg_targets`` (from ``regulariser_targets``, one entry per phrase set) are cycled
    through the steps; without them the regulariser is off.  Runs on the bundle's device in its
    weight dtype (no autocast: the token is optimised in full precision).
    """
    model = bundle.model
    token_id = pseudo_token_id(bundle.tokenizer)
    emb = _tower(model).token_embedding.weight.detach()
    b, d_tok = image_features.shape[0], emb.shape[1]
    # Drawn on the CPU generator so a seed gives the same start on every device.
    g = torch.Generator().manual_seed(seed)
    # Start at the scale of real word embeddings so the first steps see realistic inputs.
    token = (bundle.tensor(torch.randn(b, d_tok, generator=g)) * emb.std()).requires_grad_(True)
    avg = token.detach().clone()
    opt = torch.optim.AdamW([token], lr=lr, weight_decay=weight_decay)
    target = F.normalize(bundle.tensor(image_features), dim=-1)
    prompt = bundle.tokens([OTI_PROMPT] * b)
    with frozen(model), torch.enable_grad():
        for step in range(steps):
            txt = F.normalize(encode_text_with_pseudo(model, prompt, token, token_id), dim=-1)
            loss = (1 - (txt * target).sum(-1)).mean()
            if reg_targets and reg_weight > 0:
                reg = regulariser_loss(model, token, reg_targets[step % len(reg_targets)], token_id)
                loss = (loss + reg_weight * reg) / (1 + reg_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                avg.mul_(ema).add_(token.detach(), alpha=1 - ema)
            if progress:
                progress(step + 1, steps)
    return avg
