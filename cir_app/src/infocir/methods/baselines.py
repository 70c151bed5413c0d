"""Training-free baselines: image-only, text-only, average, product of similarities, WeiCom."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr as _normal_cdf

from infocir.methods.base import CIRMethod, Composition, MethodContext, Param, Query, zscore
from infocir.methods.registry import register
from infocir.models.encoding import l2_normalize


@register
class ImageOnly(CIRMethod):
    name = "image"
    order = 10
    label = "Image only"
    description = "The reference image's feature; ignores the text."
    needs_text = False
    reference_differentiable = True

    def compose(self, ctx: MethodContext, query: Query) -> np.ndarray:
        return query.require_reference()

    def compose_from_image(self, ctx: MethodContext, query: Query, image_emb):
        return image_emb


@register
class TextOnly(CIRMethod):
    name = "text"
    order = 11
    label = "Text only"
    description = "The modification text's feature; ignores the image."
    needs_reference = False

    def compose(self, ctx: MethodContext, query: Query) -> np.ndarray:
        return ctx.text_unit(query.text)


@register
class Average(CIRMethod):
    name = "average"
    order = 12
    label = "Average"
    description = "normalise(image + text) of the two unit features."
    reference_differentiable = True

    def compose(self, ctx: MethodContext, query: Query) -> np.ndarray:
        return l2_normalize(query.require_reference() + ctx.text_unit(query.text))

    def compose_from_image(self, ctx: MethodContext, query: Query, image_emb):
        import torch.nn.functional as F

        text = ctx.bundle.tensor(ctx.text_unit(query.text)).to(image_emb.dtype)
        return F.normalize(image_emb, dim=-1) + text  # the target normalises; direction as in compose


@register
class Product(CIRMethod):
    name = "product"
    order = 13
    label = "Product of similarities"
    description = "Score = sim(image, reference) × sim(image, text), each clamped at 0."

    def score(self, ctx: MethodContext, query: Query) -> Composition:
        s_i = ctx.backend.similarities(query.require_reference())
        s_t = ctx.backend.similarities(ctx.text_unit(query.text))
        return Composition(scores=(np.clip(s_i, 0, None) * np.clip(s_t, 0, None)).astype(np.float32))


@register
class WeiCom(CIRMethod):
    name = "weicom"
    order = 14
    parameters = {"lam": Param(0.5, float, 0.0, 1.0, "weight of the text similarity")}
    label = "WeiCom"
    description = "Text and image similarities as z-scores → normal CDF, fused as λ·text + (1−λ)·image."

    def score(self, ctx: MethodContext, query: Query) -> Composition:
        lam = float(self.params["lam"])
        s_i = ctx.backend.similarities(query.require_reference())
        s_t = ctx.backend.similarities(ctx.text_unit(query.text))
        fused = lam * _normal_cdf(zscore(s_t)) + (1 - lam) * _normal_cdf(zscore(s_i))
        return Composition(scores=fused.astype(np.float32))
