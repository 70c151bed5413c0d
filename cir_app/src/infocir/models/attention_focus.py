"""Stage 5 of the demo model: the last block's class-token attention learns to look at the object.

Distillation trains only the image embedding, and the distilled ViT came to gather its answer in the
last block from background patches (a register-like habit of ViTs): Grad-ECLIP, which explains that
block, then lit the background (mass/area 3.65 → 0.86 over the distillation rounds) while rollout
over all blocks still found the object.  This stage fine-tunes the image tower on two losses:

* **keep**: 1 − cos(embedding, the same image's embedding before this stage), so the space that the
  text tower, φ and the shipped index live in stays where it was;
* **look**: −log of the object's share of the class token's last-block reading of the patches, per
  head, for the softmax attention the forward pass uses and for λ_i · ‖V_i‖ (Grad-ECLIP's spatial
  weight times the size of what the patch could add), with the renderer's own object masks as the
  patches' coverage.  Renders of the training generators teach it (standard and varied by default,
``--focus-renderers`` adds the family renderer); the independent renderer never does.

Attention alone was not enough: trained on the softmax attention and a softmax of cos(Q_cls, K_i) (no
value term; 1,500 steps), the class token read 99.9 % of its attention from the object, yet Grad-ECLIP's
mass/area fell for size and style references (0.62 and 1.37), because background patches it no longer
read kept large value vectors.

It runs on the shipped student (``train_demo --from-shipped --attention-focus ...``) or after the
student rounds of a whole run, and resumes like the other stages.  Its look term (``LookTerm``) can also
join every student step beside the distillation (``--student-look``), where the teacher, not *keep*,
holds the embedding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from infocir.explain.base import batch_first, capture, minmax, patch_grid, qkv
from infocir.explain.grad_eclip import last_attention

if TYPE_CHECKING:
    from infocir.models.train_demo import Recipe


@dataclass(frozen=True)
class FocusSchedule:
    """``--attention-focus STEPS:LR:WEIGHT``: steps, peak learning rate and the weight of *look*."""

    steps: int
    lr: float
    weight: float

    def __post_init__(self) -> None:
        if self.steps <= 0 or self.lr <= 0 or self.weight < 0:
            raise ValueError(f"attention focus {self}: needs steps > 0, lr > 0 and weight ≥ 0")


def patch_cover(masks: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """uint8 area coverage [B, S, S] (255 = on the object) → each patch's share on the object [B, gh·gw]."""
    gh, gw = grid
    cover = F.adaptive_avg_pool2d(masks.float().unsqueeze(1) / 255.0, (gh, gw))
    return cover.flatten(1)


def object_attention(attn, x_in: torch.Tensor, cover: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Share on the object of the class token's last-block reading of the patches, per image and head
    ([B, H] each): (softmax attention as in the forward pass, Grad-ECLIP's weight λ_i · ‖V_i‖ with λ the
    min-max normalised cos(Q_cls, K_i) over the patches).  The second bounds each patch's Grad-ECLIP
    term λ_i · Σ_c g_c V_i,c whatever the target's gradient g: a patch the class token does not read can
    still carry a large value vector that Grad-ECLIP then lights.  ``x_in`` is the attention block's
    input (as hooked), ``cover`` the patches' coverage [B, n]."""
    q, k, v = qkv(attn, batch_first(x_in, attn))  # [B, L, H, d]
    n = cover.shape[1]
    q_cls, k_patch = q[:, 0], k[:, -n:]
    # The softmax runs over every key (class token included), as the block's forward does.
    weights = (torch.einsum("bhd,blhd->bhl", q_cls, k) / math.sqrt(q.shape[-1])).softmax(-1)[..., -n:]
    soft = (weights * cover[:, None]).sum(-1) / weights.sum(-1).clamp_min(1e-12)
    lam = minmax(F.cosine_similarity(q_cls.unsqueeze(1), k_patch, dim=-1), dim=1)  # [B, n, H]
    bound = lam * v[:, -n:].norm(dim=-1)
    eclip = (bound * cover[..., None]).sum(1) / bound.sum(1).clamp_min(1e-12)
    return soft, eclip


def focus_losses(
    model, pixels: torch.Tensor, cover: torch.Tensor, anchor: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(keep, look, share, embedding): 1 − cos to ``anchor`` (unit embeddings; 0 without one), −log of
    the object's share of the last block's attention (mean of the two kinds, images and heads), that
    share (no gradient) and the unit image embeddings."""
    attn = last_attention(model.visual)
    with capture([attn]) as (rec,):
        out = F.normalize(model.encode_image(pixels), dim=-1)
    soft, spatial = object_attention(attn, rec.inputs[-1], cover)
    keep = (1 - (out * anchor).sum(-1)).mean() if anchor is not None else out.new_zeros(())
    shares = torch.stack([soft, spatial])
    look = -torch.log(shares.clamp_min(1e-6)).mean()
    return keep, look, shares.detach().mean((1, 2)), out


class LookTerm:
    """*look* (× ``weight``) plus the zero-shot attribute cross-entropy (``recipe.focus_attribute_weight``)
    on masked renders of the training generators (``recipe.focus_replicates`` × 1920 of each of
    ``recipe.focus_renderers``, kept in ``workdir``).  Stage 5 adds *keep* to it; a student round with
    ``recipe.student_look`` adds it to the distillation loss, so that the shapes the teacher gives and
    where the last block looks are learnt together instead of traded off afterwards."""

    def __init__(self, student_b, workdir: Path, recipe: Recipe, weight: float, batch: int = 64):
        from infocir.models import train_demo as T

        size = student_b.image_size
        pools = [
            T.cached_pool(workdir, "focus", recipe.seed, recipe.focus_replicates, size, r, masks=True)
            for r in recipe.focus_renderers
        ]
        self.images, self.attrs, self.masks = (torch.cat(column) for column in zip(*pools, strict=True))
        self.bundle, self.weight, self.batch, self.seed = student_b, weight, batch, recipe.seed
        self.grid = patch_grid(student_b.model.visual)
        self.know = {a: recipe.focus_attribute_weight * w for a, w in T.ATTRIBUTE_WEIGHTS.items()}
        # The text tower is frozen: its prompt features are computed once.
        self.prompts = T.attribute_text_features(student_b) if recipe.focus_attribute_weight else None

    def indices(self, step: int, salt: int) -> torch.Tensor:
        """Step ``step``'s batch (host indices into the renders), drawn from (seed, ``salt``, step)."""
        r = np.random.default_rng([self.seed, salt, step])
        return torch.from_numpy(r.integers(len(self.images), size=self.batch))  # host: indexes the host renders

    def loss(self, idx: torch.Tensor, anchor: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight × look + the attribute term, keep) on the renders ``idx``; keep is 1 − cos to
        ``anchor``'s rows (their unit embeddings), 0 without an anchor."""
        from infocir.models import train_demo as T

        b = self.bundle
        keep, look, _, out = focus_losses(
            b.model, T._normalize(b, self.images[idx]), b.tensor(patch_cover(self.masks[idx], self.grid)), anchor
        )
        loss = self.weight * look
        if self.prompts is not None:
            loss = loss + T.attribute_loss(b, out, self.attrs[idx], self.know, self.prompts)
        return loss, keep


def focus_attention(student_b, workdir: Path, recipe: Recipe) -> float:
    """Fine-tune ``student_b``'s image tower (stage 5, ``recipe.focus_schedule``); returns the seconds
    spent.  The pools (renders with masks, ``recipe.focus_replicates`` × 1920 of each of
    ``recipe.focus_renderers``, and one held-out replicate of each) and the anchors are kept in
    ``workdir``.  With ``recipe.focus_attribute_weight`` each batch also takes the zero-shot
    cross-entropy of its attribute labels against the frozen text tower's prompts."""
    from infocir.models import train_demo as T

    schedule, seed, renderers = recipe.focus_schedule, recipe.seed, recipe.focus_renderers
    if schedule is None:
        raise ValueError("stage 5 needs recipe.attention_focus")
    model = student_b.model
    size = student_b.image_size
    look = LookTerm(student_b, workdir, recipe, schedule.weight)
    held = [T.cached_pool(workdir, "focus-heldout", seed + 1, 1, size, r, masks=True) for r in renderers]
    anchor_path = workdir / "focus_anchor.pt"
    if anchor_path.exists():
        anchor = torch.load(anchor_path, map_location=student_b.device)
    else:
        model.eval()
        anchor = T.encode_images(student_b, look.images)
        T._atomic_save(anchor, anchor_path)
    held_anchor = [T.encode_images(student_b, h[0]) for h in held]  # before training: what "keep" measures
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("visual."))

    def step(st: int) -> torch.Tensor:
        idx = look.indices(st, 5)
        term, keep = look.loss(idx, anchor[student_b.tensor(idx)])
        return recipe.focus_keep_weight * keep + term

    @torch.no_grad()
    def held_out() -> dict:
        model.eval()
        report = {}
        for renderer, (h_images, h_attrs, h_masks), h_anchor in zip(renderers, held, held_anchor, strict=True):
            keep, _, share, _ = focus_losses(
                model,
                T._normalize(student_b, h_images[:512]),
                student_b.tensor(patch_cover(h_masks[:512], look.grid)),
                h_anchor[:512],
            )
            report[renderer] = {
                "cos_to_before": round(1 - float(keep), 4),
                "object_share_softmax": round(float(share[0]), 3),
                "object_share_eclip_bound": round(float(share[1]), 3),
                **T.evaluate(student_b, h_images, h_attrs),
            }
        return report

    return T._checkpointed_loop(
        "attention-focus",
        workdir,
        model,
        [p for p in model.parameters() if p.requires_grad],
        schedule.steps,
        schedule.lr,
        0.05,
        step,
        held_out,
        every=100,
        warmup=50,
        device=student_b.device,
    )
