import numpy as np
import pytest
import torch
import torch.nn.functional as F

from infocir.config import apply_overrides
from infocir.engine import RetrievalEngine, bundle_for
from infocir.methods.base import MethodUnavailable
from infocir.models.textual_inversion import (
    Phi,
    PhiCheckpointError,
    encode_text_with_pseudo,
    load_phi,
    oti,
    pseudo_token_id,
    save_phi,
)


@pytest.fixture(scope="module")
def bundle():
    from infocir.config import AppConfig

    cfg = apply_overrides(AppConfig(), {"model.name": "InfoCIR-Tiny-ViT", "model.pretrained": ""})
    return bundle_for(cfg)


def test_dollar_is_token_259(bundle):
    assert pseudo_token_id(bundle.tokenizer) == 259


def test_pseudo_token_with_a_real_word_embedding_equals_plain_encoding(bundle):
    m, tok = bundle.model, bundle.tokenizer
    word_id = tok(["cat"])[0][1]
    emb = m.token_embedding.weight[word_id][None]
    with torch.no_grad():
        got = encode_text_with_pseudo(m, tok(["a photo of $ that is red"]), emb)
        want = m.encode_text(tok(["a photo of cat that is red"]))
        plain = encode_text_with_pseudo(m, tok(["a red star", "a much longer caption about a blue heart"]), None)
        want2 = m.encode_text(tok(["a red star", "a much longer caption about a blue heart"]))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(plain, want2, atol=1e-5, rtol=1e-5)  # cropping after EOT is exact


def test_phi_checkpoint_roundtrip_and_clear_errors(bundle, tmp_path):
    d, t = bundle.embed_dim, bundle.token_dim
    phi = Phi(d, 4 * t, t)
    path = tmp_path / "phi.pt"
    save_phi(phi, path, half=False)
    assert set(torch.load(path)["Phi"]) == {f"layers.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")}
    loaded = load_phi(path, d, t)
    x = torch.randn(3, d)
    torch.testing.assert_close(loaded(x), phi.eval()(x))
    with pytest.raises(
        PhiCheckpointError, match=r"maps 32-d image features to 32-d tokens, but the CLIP model has 512-d"
    ):
        load_phi(path, 512, 512)
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(PhiCheckpointError, match="no 'Phi' entry"):
        load_phi(tmp_path / "other.pt", d, t)
    with pytest.raises(PhiCheckpointError, match="not found"):
        load_phi(tmp_path / "missing.pt", d, t)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(PhiCheckpointError, match="cannot be read"):
        load_phi(tmp_path / "junk.pt", d, t)


@pytest.mark.slow  # seconds of real computation; still in the default run
def test_oti_brings_the_prompt_closer_to_the_image(bundle):
    torch.manual_seed(0)
    feats = torch.randn(2, bundle.embed_dim)
    tok = bundle.tokenizer
    prompt = tok(["a photo of $"] * 2)

    def cos(t):
        with torch.no_grad():
            return F.cosine_similarity(encode_text_with_pseudo(bundle.model, prompt, t), feats).mean().item()

    start = torch.zeros(2, bundle.token_dim)
    before = [p.requires_grad for p in bundle.model.parameters()]
    token = oti(bundle, feats, steps=60, ema=0.0)
    assert cos(token) > cos(start) + 0.2
    assert [p.requires_grad for p in bundle.model.parameters()] == before  # model left as it was


def test_searle_unavailable_without_checkpoint_then_available(tiny_cfg, tmp_path):
    engine = RetrievalEngine.from_config(apply_overrides(tiny_cfg, {"model.phi_checkpoint": ""}), progress=False)
    info = {m.name: m for m in engine.methods()}
    assert not info["searle"].available and "no φ checkpoint" in info["searle"].reason
    assert info["oti"].available
    with pytest.raises(MethodUnavailable, match="SEARLE"):
        engine.search("star/star_00.png", "make it red", method="searle")
    phi = Phi(engine.bundle.embed_dim, 4 * engine.bundle.token_dim, engine.bundle.token_dim)
    save_phi(phi, tmp_path / "phi.pt")
    engine2 = RetrievalEngine.from_config(
        apply_overrides(tiny_cfg, {"model.phi_checkpoint": str(tmp_path / "phi.pt")}), progress=False
    )
    assert {m.name: m for m in engine2.methods()}["searle"].available
    res = engine2.search("star/star_00.png", "make it red", k=5, method="searle")
    assert len(res.ids) == 5 and np.linalg.norm(res.query_vector) == pytest.approx(1, abs=1e-4)
    bad = tmp_path / "bad.pt"
    save_phi(Phi(8, 16, 8), bad)
    engine3 = RetrievalEngine.from_config(apply_overrides(tiny_cfg, {"model.phi_checkpoint": str(bad)}), progress=False)
    info3 = {m.name: m for m in engine3.methods()}["searle"]
    assert not info3.available and "8-d image features" in info3.reason


def test_oti_method_caches_tokens_per_reference(tiny_cfg):
    engine = RetrievalEngine.from_config(tiny_cfg, progress=False)
    calls = []
    r1 = engine.search(
        "star/star_00.png", "make it red", k=3, method="oti", steps=5, progress=lambda i, n: calls.append(i)
    )
    assert calls[-1] == 5
    calls.clear()
    r2 = engine.search(
        "star/star_00.png", "make it red", k=3, method="oti", steps=5, progress=lambda i, n: calls.append(i)
    )
    assert calls == [] and r1.ids == r2.ids


def test_hub_phi_is_fetched_once_and_loaded_offline_afterwards(tiny_cfg, tmp_path, monkeypatch):
    calls = []

    def fake_hub_load(repo, entry, backbone):
        calls.append((repo, entry, backbone))
        return Phi(32, 128, 32), None  # the hub entry returns (phi, encode_with_pseudo_tokens)

    monkeypatch.setattr(torch.hub, "load", fake_hub_load)
    cfg = apply_overrides(tiny_cfg, {"model.phi_checkpoint": "hub:ViT-B/32"})
    engine = RetrievalEngine.from_config(cfg, progress=False)
    assert {m.name: m for m in engine.methods()}["searle"].available
    assert calls == [("miccunifi/SEARLE", "searle", "ViT-B/32")]
    assert "Phi" in torch.load(cfg.cache_dir / "searle" / "searle-phi-ViT-B32.pt")
    RetrievalEngine.from_config(cfg, progress=False).methods()
    assert len(calls) == 1  # cached: no second download

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "load", offline)
    cfg2 = apply_overrides(tiny_cfg, {"model.phi_checkpoint": "hub:ViT-L/14"})
    info = {m.name: m for m in RetrievalEngine.from_config(cfg2, progress=False).methods()}["searle"]
    assert not info.available and "needs internet" in info.reason
