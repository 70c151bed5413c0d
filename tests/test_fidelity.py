"""Faithful to the published methods: SEARLE's TargetPad and pseudo-word, OpenAI CLIP's QuickGELU,
public-shape φ checkpoints.  Expected values come from the rules the public code states, worked by
hand here, not from the project's own functions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY_MODEL, make_image_folder, tiny_config
from infocir.config import apply_overrides
from infocir.engine import RetrievalEngine
from infocir.explain.image import align_to_image, input_box
from infocir.models.encoders import TargetPad, load_clip, uses_quick_gelu
from infocir.models.textual_inversion import Phi, encode_text_with_pseudo, save_phi


# --------------------------------------------------------------------------- 1. TargetPad
@pytest.mark.parametrize(
    "size,padded",
    [
        # SEARLE: pad only until max/min = 1.25; padding per side = int((max/1.25 − side)/2)
        ((640, 480), (640, 512)),  # 4:3: 640/1.25 = 512 → 16 px above and below
        ((1600, 900), (1600, 1280)),  # 16:9: 1280 → 190 px above and below
        ((300, 900), (720, 900)),  # 1:3: 720 → 210 px left and right
        ((500, 500), (500, 500)),  # square: untouched
        ((560, 480), (560, 480)),  # ratio 1.17 < 1.25: untouched
    ],
)
def test_targetpad_pads_to_the_ratio_not_to_a_square(size, padded):
    img = Image.new("RGB", size, (200, 10, 10))
    out = TargetPad(1.25)(img)
    assert out.size == padded
    arr = np.asarray(out)
    hp, vp = (padded[0] - size[0]) // 2, (padded[1] - size[1]) // 2
    assert (arr[vp : vp + size[1], hp : hp + size[0]] == (200, 10, 10)).all()  # the image, centred
    assert arr.sum() == img.size[0] * img.size[1] * 220  # everything else is black padding


def test_model_input_geometry_follows_targetpad():
    """A 200×100 image: padded to 200×160, centre 160×160 crop → x 20..180 visible, 30 px bars."""
    b = load_clip(TINY_MODEL, None, preprocess="targetpad", device="cpu")
    arr = np.full((100, 200, 3), 128, np.uint8)
    arr[:, :20] = (255, 0, 0)  # cropped away by SEARLE's geometry (seen by the old square padding)
    arr[:, 20:40] = (0, 255, 0)  # the first columns the model sees
    x = b.preprocess(Image.fromarray(arr))  # [3, S, S] normalised
    mean = torch.tensor(b.model.visual.image_mean or (0.48145466, 0.4578275, 0.40821073)).view(3, 1, 1)
    std = torch.tensor(b.model.visual.image_std or (0.26862954, 0.26130258, 0.27577711)).view(3, 1, 1)
    rgb = ((x * std + mean) * 255).round().permute(1, 2, 0).numpy()
    s = rgb.shape[0]
    bar = int(s * 30 / 160)  # the padding bars in input pixels
    mid = s // 2
    assert rgb[mid, 1, 1] > 200 and rgb[mid, 1, 0] < 60  # green at the left edge, no red
    assert np.abs(rgb[: bar - 1]).max() < 8 and np.abs(rgb[-(bar - 1) :]).max() < 8  # black bars
    assert rgb[bar + 1 : -(bar + 1), s // 2].min() > 100  # the image itself in between
    assert input_box((200, 100), "targetpad") == input_box((200, 100), "targetpad", 1.25)


def test_saliency_of_a_two_to_one_image_lands_where_the_patch_is():
    """One hot patch of an 8×8 grid, on a 200×100 image: the input box is x 20..180, y −30..130,
    20 px per patch, so patch (row 4, col 0) covers x 20..40, y 50..70."""
    grid = np.zeros((8, 8), np.float32)
    grid[4, 0] = 1
    m = align_to_image(grid, (200, 100), "targetpad")
    y, x = np.unravel_index(np.argmax(m), m.shape)
    assert 20 <= x < 40 and 50 <= y < 70
    assert m[:, :20].max() == 0  # never seen


# --------------------------------------------------------------------------- 2. QuickGELU
def test_openai_weights_build_a_quickgelu_network(monkeypatch):
    import open_clip
    from open_clip.transformer import QuickGELU

    assert uses_quick_gelu("ViT-B-32", "openai") and uses_quick_gelu("ViT-L-14", "openai")
    assert not uses_quick_gelu("ViT-B-32", "laion2b_s34b_b79k") and not uses_quick_gelu("ViT-B-32-quickgelu", "openai")
    assert uses_quick_gelu("ViT-B-32", "/w/openai-b32.pt", "true") and not uses_quick_gelu(
        "ViT-B-32", "openai", "false"
    )
    real = open_clip.create_model_and_transforms
    seen = {}

    def offline(name, pretrained=None, **kw):  # the same build, without fetching OpenAI's weights
        seen["pretrained"] = pretrained
        return real(name, pretrained=None, **kw)

    monkeypatch.setattr(open_clip, "create_model_and_transforms", offline)
    b = load_clip("ViT-B-32", "openai", preprocess="clip", device="cpu")
    acts = [m for m in b.model.modules() if isinstance(m, (QuickGELU, torch.nn.GELU))]
    assert seen["pretrained"] == "openai" and acts and all(isinstance(m, QuickGELU) for m in acts)
    assert b.weights_hash.endswith(":quickgelu")  # an index built with GELU features is not reused
    # QuickGELU is x·σ(1.702·x): at x = 1, 1/(1 + e^−1.702) = 0.84580
    assert float(acts[0](torch.tensor([1.0]))) == pytest.approx(0.84580, abs=1e-4)
    plain = load_clip("ViT-B-32", None, preprocess="clip", device="cpu")
    assert not any(isinstance(m, QuickGELU) for m in plain.model.modules())  # random weights: the config's GELU


# --------------------------------------------------------------------------- 3. the pseudo-word
def test_only_the_templates_dollar_is_the_pseudo_word():
    b = load_clip(TINY_MODEL, None, preprocess="clip", device="cpu")
    m, tok = b.model, b.tokenizer
    cat = m.token_embedding.weight[tok(["cat"])[0][1]][None].detach()
    with torch.no_grad():
        got = encode_text_with_pseudo(m, tok(["a photo of $ that costs $ 5 more"]), cat)
        # SEARLE's rule, by hand: the first "$" becomes the pseudo-word, the second stays "$"
        want = m.encode_text(tok(["a photo of cat that costs $ 5 more"]))
        wrong = m.encode_text(tok(["a photo of cat that costs cat 5 more"]))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(got, wrong, atol=1e-4)


# --------------------------------------------------------------------------- 4. public-shape φ
@pytest.mark.slow  # seconds of real computation; still in the default run
def test_public_shape_phi_composes_with_vit_l14(tmp_path):
    folder = make_image_folder(tmp_path / "data", per_class=1)
    cfg = tiny_config(
        folder, tmp_path / "cache", **{"model.name": "ViT-L-14", "model.preprocess": "targetpad", "model.device": "cpu"}
    )
    torch.manual_seed(0)
    save_phi(Phi(768, 3072, 768), tmp_path / "phi-l14.pt")  # SEARLE's ViT-L/14 φ: 768→3072→3072→768, {'Phi': …}
    assert set(torch.load(tmp_path / "phi-l14.pt")) == {"Phi"}
    engine = RetrievalEngine.from_config(
        apply_overrides(cfg, {"model.phi_checkpoint": str(tmp_path / "phi-l14.pt")}), progress=False
    )
    assert engine.bundle.embed_dim == 768 and engine.bundle.token_dim == 768
    res = engine.search("star/star_00.png", "make it red", k=3, method="searle")
    assert len(res.ids) == 3 and res.query_vector.shape == (768,)
    save_phi(Phi(512, 2048, 512), tmp_path / "phi-b32.pt")  # the ViT-B/32 φ on the wrong backbone
    bad = RetrievalEngine.from_config(
        apply_overrides(cfg, {"model.phi_checkpoint": str(tmp_path / "phi-b32.pt")}), progress=False
    )
    info = {m.name: m for m in bad.methods()}["searle"]
    assert not info.available and "512-d image features" in info.reason and "768-d" in info.reason
