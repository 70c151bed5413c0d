"""Grad-ECLIP for the text side: one signed score per word of the prompt.

The end-of-text token is the anchor (its output is the text embedding); for each of the last
``layers`` blocks the contribution of position i is Σ_h λ_i,h · Σ_c g_c,h · V_i,c,h (as for
images, with Q_eot instead of Q_cls), summed over the layers.  Scores are left signed: a
negative word pulled the query away from the target.  Word-pieces are summed back into words;
SEARLE's pseudo-word ``$`` is shown as "[image]".
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from infocir.errors import UserError
from infocir.explain.base import Target, capture, grad_leaf
from infocir.explain.grad_eclip import attention_contributions
from infocir.registry import UnknownPluginError

IMAGE_WORD = "[image]"


class PromptTooLong(UserError, ValueError):
    """The prompt does not fit the text encoder's context, so words cannot be attributed."""


@dataclass
class TokenAttribution:
    prompt: str
    words: list[str]
    scores: list[float]
    is_template: list[bool]  # words the method adds around the user's text ("a photo of [image] that")
    seconds: float


def word_pieces(tokenizer, prompt: str) -> list[tuple[str, int]]:
    """(word, number of BPE pieces) for each whitespace-separated word of ``prompt``, checked
    against the tokenizer's own tokenisation of the whole prompt."""
    words = prompt.split()
    if not hasattr(tokenizer, "encode"):
        raise ValueError("token attribution needs a BPE tokenizer with encode() (open_clip's SimpleTokenizer)")
    pieces = [len(tokenizer.encode(w)) for w in words]
    full = tokenizer([prompt])[0].tolist()  # host: only counted, never fed to the model
    eot = int(np.argmax(full))
    if sum(pieces) != eot - 1:
        raise PromptTooLong(
            f"The prompt is too long to attribute word by word ({sum(pieces)} word pieces, "
            f"the text encoder reads {eot - 1}); shorten it."
        )
    return list(zip(words, pieces, strict=True))


def _grad_eclip_tokens(bundle, tokens, pseudo, target: Target, layers: int) -> np.ndarray:
    """Grad-ECLIP score per token position 0..eot."""
    import torch

    from infocir.models.textual_inversion import _tower, encode_text_with_pseudo, pseudo_token_id

    eot = int(tokens[0].argmax())
    tower = _tower(bundle.model)
    blocks = list(tower.transformer.resblocks)[-layers:]
    with torch.enable_grad(), grad_leaf(tower.token_embedding), capture([b.attn for b in blocks]) as recs:
        feat = encode_text_with_pseudo(bundle.model, tokens, pseudo, pseudo_token_id(bundle.tokenizer))
        score = target(feat).sum()
        grads = torch.autograd.grad(score, [r.outputs[-1] for r in recs])  # one backward pass for every layer
        total = sum(
            attention_contributions(b.attn, r.inputs[-1], g, anchor=eot, keys=slice(0, eot + 1))[0]
            for b, r, g in zip(blocks, recs, grads, strict=True)
        )
    return bundle.numpy(total)


def _gradient_input_tokens(bundle, tokens, pseudo, target: Target, layers: int) -> np.ndarray:
    """∂S/∂e_i · e_i per token embedding e_i (the pseudo-word's own embedding at ``$``)."""
    import torch

    from infocir.models.textual_inversion import (
        _tower,
        encode_text_with_pseudo,
        first_pseudo_positions,
        pseudo_token_id,
    )

    tower = _tower(bundle.model)
    with torch.enable_grad(), grad_leaf(tower.token_embedding) as seen:
        pz = None if pseudo is None else pseudo.detach().clone().requires_grad_(True)
        score = target(encode_text_with_pseudo(bundle.model, tokens, pz, pseudo_token_id(bundle.tokenizer))).sum()
        wrt = [seen["leaf"]] + ([pz] if pz is not None else [])
        grads = torch.autograd.grad(score, wrt, allow_unused=True)
    eot = int(tokens[0].argmax())
    out = (grads[0][0] * seen["leaf"][0]).sum(-1)[: eot + 1].detach().clone()
    if pz is not None and grads[1] is not None:
        first = first_pseudo_positions(tokens[:1, : eot + 1], pseudo_token_id(bundle.tokenizer))[0]
        out[first] = float((grads[1][0] * pz[0]).sum().detach())
    return bundle.numpy(out)


TOKEN_METHODS = {
    "grad_eclip": "Grad-ECLIP",
    "gradient_input": "Gradient × input",
    "occlusion": "Word occlusion (exact)",
}


def text_attribution(
    bundle, prompt: str, target: Target, pseudo=None, layers: int = 8, n_template: int = 0, method: str = "grad_eclip"
) -> TokenAttribution:
    """Signed per-word scores of ``prompt`` for ``target`` (a function of the text embedding).

    ``pseudo`` [1, d_tok] replaces the ``$`` token (SEARLE/OTI); ``n_template`` leading words
    are marked as the method's template.  ``method``: ``grad_eclip``; ``gradient_input``; or
    ``occlusion``, the exact drop in the score when the word is left out."""

    from infocir.models.textual_inversion import PSEUDO_TOKEN, encode_text_with_pseudo, pseudo_token_id

    if method not in TOKEN_METHODS:
        raise UnknownPluginError(f"unknown token attribution {method!r}; choose from {', '.join(TOKEN_METHODS)}")
    t0 = time.perf_counter()
    pieces = word_pieces(bundle.tokenizer, prompt)
    if method == "occlusion":
        words = [w for w, _ in pieces]
        variants = [prompt] + [" ".join(words[:i] + words[i + 1 :]) for i in range(len(words))]
        tid = pseudo_token_id(bundle.tokenizer)
        with bundle.encoding():
            toks = bundle.tokens(variants)
            ps = None if pseudo is None else pseudo.expand(len(variants), -1)
            s = bundle.numpy(target(encode_text_with_pseudo(bundle.model, toks, ps, tid)))
        scores = [float(s[0] - s[i + 1]) for i in range(len(words))]
    else:
        tokens = bundle.tokens([prompt])
        fn = _grad_eclip_tokens if method == "grad_eclip" else _gradient_input_tokens
        per_token = fn(bundle, tokens, pseudo, target, layers)[1 : int(tokens[0].argmax())]  # drop start/end of text
        scores, pos = [], 0
        for _, n in pieces:
            scores.append(float(per_token[pos : pos + n].sum()))
            pos += n
    # Only the template's pseudo-word stands for the image; a "$" the user typed is a word.
    first = next((i for i, (w, _) in enumerate(pieces) if w == PSEUDO_TOKEN), None) if pseudo is not None else None
    shown = [IMAGE_WORD if i == first else w for i, (w, _) in enumerate(pieces)]
    template = [i < n_template for i in range(len(shown))]
    return TokenAttribution(prompt, shown, scores, template, time.perf_counter() - t0)
