"""Stage 5 of the demo model (``models.attention_focus``): the object's share of the class token's
last-block attention, checked against PyTorch's own attention weights, and a loss that moves it."""

from __future__ import annotations

import argparse

import pytest
import torch
import torch.nn.functional as F

from infocir.data import demo_world as W
from infocir.models.attention_focus import (
    FocusSchedule,
    LookTerm,
    focus_losses,
    object_attention,
    patch_cover,
)


def test_patch_cover_is_each_patch_s_mean_coverage():
    masks = torch.zeros(1, 16, 16, dtype=torch.uint8)
    masks[0, :8, :8] = 255  # the top-left patch of a 2×2 grid, wholly
    masks[0, 8:, 8:12] = 255  # half of the bottom-right one
    cover = patch_cover(masks, (2, 2))
    assert torch.allclose(cover, torch.tensor([[1.0, 0.0, 0.0, 0.5]]))


def test_object_share_matches_pytorch_s_attention_weights_and_the_cosine_rule():
    torch.manual_seed(0)
    attn = torch.nn.MultiheadAttention(12, 3)  # sequence-first, as open_clip's blocks
    x = torch.randn(5, 2, 12)  # [L=1+4 patches, B=2, W]
    cover = torch.tensor([[1.0, 0.0, 0.25, 0.0], [0.0, 0.5, 0.5, 1.0]])
    soft, eclip = object_attention(attn, x, cover)

    _, w = attn(x, x, x, need_weights=True, average_attn_weights=False)  # [B, H, L, L]
    cls_row = w[:, :, 0, 1:]  # the class token's attention on the patches
    expected = (cls_row * cover[:, None]).sum(-1) / cls_row.sum(-1)
    assert torch.allclose(soft, expected, atol=1e-6)

    # the Grad-ECLIP bound by hand: per image and head, λ_i = min-max of cos(q_cls, k_i), times ‖v_i‖
    q, k, v = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).detach().chunk(3, dim=-1)
    for b in range(2):
        for h in range(3):
            part = slice(4 * h, 4 * h + 4)
            cos = [float(F.cosine_similarity(q[0, b, part], k[1 + i, b, part], dim=0)) for i in range(4)]
            lam = [(c - min(cos)) / (max(cos) - min(cos)) for c in cos]
            w = [lam[i] * float(v[1 + i, b, part].norm()) for i in range(4)]
            share = sum(w[i] * float(cover[b, i]) for i in range(4)) / sum(w)
            assert eclip[b, h].item() == pytest.approx(share, abs=1e-5)


def test_the_look_loss_moves_the_attention_onto_the_object_while_keep_holds_the_embedding():
    from infocir.models.encoders import load_clip

    bundle = load_clip("InfoCIR-Tiny-ViT", None, preprocess="clip", seed=0, device="cpu", precision="fp32")
    model = bundle.model
    g = torch.Generator().manual_seed(1)
    pixels = torch.randn(8, 3, 32, 32, generator=g)
    masks = torch.zeros(8, 32, 32, dtype=torch.uint8)
    masks[:, 8:24, 8:24] = 255  # the four central patches of the 4×4 grid
    cover = patch_cover(masks, (4, 4))
    with torch.no_grad():
        anchor = F.normalize(model.encode_image(pixels), dim=-1)
    keep0, look0, share0, _ = focus_losses(model, pixels, cover, anchor)
    assert keep0.item() == pytest.approx(0.0, abs=1e-5)  # before any step, every image is its anchor
    opt = torch.optim.Adam([p for n, p in model.named_parameters() if n.startswith("visual.")], lr=3e-3)
    for _ in range(30):
        keep, look, _, _ = focus_losses(model, pixels, cover, anchor)
        opt.zero_grad()
        (keep + look).backward()
        opt.step()
    keep1, look1, share1, _ = focus_losses(model, pixels, cover, anchor)
    assert look1 < look0 and (share1 > share0).all() and share1.min() > 0.5
    assert keep1.item() < 0.05


def test_schedule_validation_and_the_command_line(tmp_path):
    from infocir.models import train_demo as T

    assert T.parse_focus("1500:1e-4:1") == (1500, 1e-4, 1.0)
    for bad in ("1500:1e-4", "0:1e-4:1", "10:-1:1", "10:1e-4:-2", "a:b:c"):
        with pytest.raises(argparse.ArgumentTypeError):
            T.parse_focus(bad)
    with pytest.raises(ValueError):
        FocusSchedule(10, 0.0, 1.0)
    with pytest.raises(ValueError):
        T.Recipe(attention_focus=(0, 1e-4, 1.0))
    with pytest.raises(ValueError):
        T.Recipe(focus_replicates=0)
    with pytest.raises(ValueError):
        T.Recipe(focus_attribute_weight=-0.5)
    with pytest.raises(ValueError):
        T.Recipe(focus_keep_weight=0.0)
    for bad_renderers in ((), ("standard", "independent")):  # the independent renderer never trains
        with pytest.raises(ValueError):
            T.Recipe(focus_renderers=bad_renderers)
    for argv in (
        ["--attention-focus", "5:1e-4"],
        ["--attention-focus", "5:1e-4:1", "--focus-renderers", "independent"],
        ["--attention-focus", "5:1e-4:1", "--focus-attribute-weight", "-1"],
        ["--attention-focus", "5:1e-4:1", "--focus-keep-weight", "0"],
    ):
        with pytest.raises(SystemExit) as e:  # refused before any work
            T.main(["--workdir", str(tmp_path), *argv])
        assert e.value.code == 2
    assert not any(tmp_path.iterdir())


def test_focus_attention_trains_from_masked_pools_and_resumes(tmp_path, monkeypatch):
    """Stage 5 end to end on tiny random pools: the checkpoint holds its steps, the anchors are the
    embeddings before the stage, and a re-run resumes to identical weights."""
    from infocir.models import attention_focus as A
    from infocir.models import train_demo as T
    from infocir.models.encoders import load_clip

    combos = W.all_combinations()
    attrs = torch.tensor([c.indices() for c in combos])[:64]
    g = torch.Generator().manual_seed(0)
    masks = torch.zeros(64, 32, 32, dtype=torch.uint8)
    masks[:, 8:24, 8:24] = 255
    for name, seed in (("focus", 7), ("focus-heldout", 8)):
        for suffix in ("", "-varied"):
            images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=g)
            torch.save(
                {"images": images, "attrs": attrs, "masks": masks},
                tmp_path / f"pool-{name}-{seed}-1-32{suffix}-masks.pt",
            )

    def tiny():
        return load_clip("InfoCIR-Tiny-ViT", None, preprocess="clip", seed=0, device="cpu", precision="fp32")

    monkeypatch.setattr(T, "evaluate", lambda b, images, attrs: {"n": len(images)})
    bundle = tiny()
    recipe = T.Recipe(
        attention_focus=(4, 1e-3, 1.0), seed=7, focus_replicates=1, focus_attribute_weight=0.5, focus_keep_weight=2.0
    )
    before = {k: v.clone() for k, v in bundle.model.state_dict().items()}
    A.focus_attention(bundle, tmp_path, recipe)
    ckpt = torch.load(tmp_path / "attention-focus.ckpt.pt", weights_only=False)
    assert ckpt["step"] == 4
    anchor = torch.load(tmp_path / "focus_anchor.pt")
    pools = [torch.load(tmp_path / f"pool-focus-7-1-32{s}-masks.pt")["images"] for s in ("", "-varied")]
    fresh = tiny()
    fresh.model.load_state_dict(before)
    assert torch.allclose(anchor, T.encode_images(fresh, torch.cat(pools)), atol=1e-5)
    after = bundle.model.state_dict()
    assert not torch.equal(
        after["visual.transformer.resblocks.1.attn.in_proj_weight"],
        before["visual.transformer.resblocks.1.attn.in_proj_weight"],
    )
    assert torch.equal(after["text_projection"], before["text_projection"])  # the text side is not trained

    again = tiny()
    again.model.load_state_dict(before)
    A.focus_attention(again, tmp_path, recipe)  # resumes at step 4
    assert all(torch.equal(after[k], v) for k, v in again.model.state_dict().items())


def test_the_attribute_loss_from_prompts_computed_once_is_the_cross_entropy_by_hand():
    """Stage 5's attribute term: with the frozen text tower's prompt features computed once it equals
    the loss that encodes them itself, and both equal the cross-entropy written out for one attribute."""
    from infocir.models import train_demo as T
    from infocir.models.encoders import load_clip

    bundle = load_clip("InfoCIR-Tiny-ViT", None, preprocess="clip", seed=0, device="cpu", precision="fp32")
    rows = torch.tensor([c.indices() for c in W.all_combinations()[::97]])
    img = F.normalize(torch.randn(len(rows), bundle.model.text_projection.shape[1]), dim=-1)
    with torch.no_grad():
        prompts = T.attribute_text_features(bundle)
        once = T.attribute_loss(bundle, img, rows, T.ATTRIBUTE_WEIGHTS, prompts)
        each = T.attribute_loss(bundle, img, rows, T.ATTRIBUTE_WEIGHTS)
        shape_only = T.attribute_loss(bundle, img, rows, {"shape": 2.0}, prompts)
    assert once.item() == pytest.approx(each.item(), rel=1e-5)
    scale = min(bundle.model.logit_scale.exp().item(), 100.0)
    logits = scale * img @ prompts["shape"].T
    si = W.ATTRIBUTES.index("shape")
    by_hand = -sum(logits[i, rows[i, si]] - torch.logsumexp(logits[i], dim=0) for i in range(len(rows))) / len(rows)
    assert shape_only.item() == pytest.approx(2.0 * by_hand.item(), rel=1e-5)


def test_pool_chunks_render_masks_only_when_asked():
    from infocir.models import train_demo as T

    plain = T._render_chunk((3, 0, 32, 64, "varied", 0, 4, False))
    masked = T._render_chunk((3, 0, 32, 64, "varied", 0, 4, True))
    assert len(plain) == 2 and len(masked) == 3
    assert all((a == b).all() for a, b in zip(plain, masked[:2], strict=True))  # same renders either way
    assert masked[2].shape == (4, 32, 32) and masked[2].dtype.name == "uint8" and masked[2].max() == 255


def test_the_look_term_is_look_plus_the_attribute_term_and_keeps_only_with_an_anchor(tmp_path):
    """``LookTerm`` (stage 5's batches, and a student round's with ``student_look``): weight × look plus
    the attribute cross-entropy, each recomputed here from its parts; keep is 0 without an anchor and
    1 − cos to it with one; the batches are fixed by (seed, salt, step)."""
    from infocir.models import train_demo as T
    from infocir.models.encoders import load_clip

    bundle = load_clip("InfoCIR-Tiny-ViT", None, preprocess="clip", seed=0, device="cpu", precision="fp32")
    attrs = torch.tensor([c.indices() for c in W.all_combinations()])[:64]
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    masks = torch.zeros(64, 32, 32, dtype=torch.uint8)
    masks[:, 8:24, 8:24] = 255
    torch.save({"images": images, "attrs": attrs, "masks": masks}, tmp_path / "pool-focus-7-1-32-masks.pt")
    recipe = T.Recipe(seed=7, focus_replicates=1, focus_renderers=("standard",), focus_attribute_weight=0.5)
    look = LookTerm(bundle, tmp_path, recipe, weight=2.0, batch=16)

    idx = look.indices(3, 6)
    assert idx.shape == (16,) and 0 <= int(idx.min()) and int(idx.max()) < 64
    assert torch.equal(idx, look.indices(3, 6)) and not torch.equal(idx, look.indices(3, 5))
    with torch.no_grad():
        term, keep = look.loss(idx)
        _, look_part, _, out = focus_losses(
            bundle.model, T._normalize(bundle, images[idx]), patch_cover(masks[idx], (4, 4))
        )
        weights = {a: 0.5 * w for a, w in T.ATTRIBUTE_WEIGHTS.items()}
        attribute_part = T.attribute_loss(bundle, out, attrs[idx], weights)
        _, keep_self = look.loss(idx, out)
        _, keep_opposite = look.loss(idx, -out)
    assert keep.item() == 0.0
    assert term.item() == pytest.approx(2.0 * look_part.item() + attribute_part.item(), rel=1e-5)
    assert keep_self.item() == pytest.approx(0.0, abs=1e-5) and keep_opposite.item() == pytest.approx(2.0, abs=1e-5)

    plain = LookTerm(bundle, tmp_path, T.Recipe(seed=7, focus_replicates=1, focus_renderers=("standard",)), 2.0, 16)
    with torch.no_grad():
        assert plain.loss(idx)[0].item() == pytest.approx(2.0 * look_part.item(), rel=1e-5)  # no attribute term
