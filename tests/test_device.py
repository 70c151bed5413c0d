"""One device, everywhere: every tensor the engine hands to the model goes through the bundle.

This machine has no GPU, so the GPU failure ("Input type (torch.FloatTensor) and weight type
(torch.cuda.FloatTensor) should be the same") is reproduced by its CPU twin: the bundle is built
in float64 (``model.precision = fp64``), which changes the model's weights and everything
``bundle.tensor``/``pixels`` produce, but nothing else.  A float input that bypasses the bundle is
then float32 against float64 weights and every layer refuses it, exactly like a CPU tensor meets
CUDA weights.  Integer inputs (token ids) and constants cannot be caught that way; a static check
over the source covers them: torch factory calls name their device, token ids come from
``bundle.tokens``.  benchmarks/gpu_check.py runs the same entry points on a real GPU.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

import infocir
from infocir.config import ConfigError, apply_overrides
from infocir.engine import RetrievalEngine
from infocir.models.encoders import ModelLoadError, resolve_device, resolve_precision
from infocir.models.textual_inversion import Phi, save_phi

PACKAGE = Path(infocir.__file__).parent


@pytest.fixture(scope="module")
def fp64_engine(tmp_path_factory):
    from conftest import make_image_folder, tiny_config

    tmp = tmp_path_factory.mktemp("fp64")
    folder = make_image_folder(tmp / "data")
    cfg = tiny_config(folder, tmp / "cache", **{"model.precision": "fp64", "model.device": "cpu"})
    probe = RetrievalEngine.from_config(apply_overrides(cfg, {"model.phi_checkpoint": ""}), progress=False)
    d, t = probe.bundle.embed_dim, probe.bundle.token_dim
    torch.manual_seed(0)
    save_phi(Phi(d, 4 * t, t), tmp / "phi.pt", half=False)
    return RetrievalEngine.from_config(
        apply_overrides(cfg, {"model.phi_checkpoint": str(tmp / "phi.pt")}), progress=False
    )


def test_device_settings_resolve_and_a_missing_gpu_is_a_clear_error():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("auto", torch.device("cuda")) == "fp16"
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="torch sees no CUDA GPU.*model.device=auto or cpu"):
            resolve_device("cuda:0")
    with pytest.raises(ConfigError, match="model.device.*auto, cpu, cuda, cuda:N"):
        apply_overrides(infocir.config.AppConfig(), {"model.device": "gpu"})
    with pytest.raises(ConfigError, match="model.precision"):
        apply_overrides(infocir.config.AppConfig(), {"model.precision": "int8"})


def test_the_bundle_owns_device_and_dtype(fp64_engine):
    b = fp64_engine.bundle
    assert b.precision == "fp64" and all(p.dtype == torch.float64 for p in b.model.parameters())
    assert b.tensor(np.zeros(3, np.float32)).dtype == torch.float64
    assert b.tokens(["a red star"]).dtype == torch.int64  # ids stay integers
    assert fp64_engine.index.raw_feature(0).dtype == np.float32  # what leaves the bundle is float32 numpy
    assert fp64_engine.index.features.dtype == np.float16  # the index as stored (index.dtype), memory-mapped


def test_every_method_runs_through_the_bundle(fp64_engine):
    """Each registered method composes on an fp64 model: no float input bypasses the bundle."""
    e = fp64_engine
    ran = []
    extra = {
        "oti": {"steps": 3},
        "feedback": {"relevant": ["circle/circle_01.png"], "nonrelevant": ["square/square_00.png"]},
    }
    for info in e.methods():
        assert info.available, (info.name, info.reason)
        res = e.search("star/star_00.png", "make it red", k=4, method=info.name, **extra.get(info.name, {}))
        assert len(res.ids) == 4 and np.isfinite(res.scores).all()
        ran.append(info.name)
    assert {"searle", "oti", "basic", "average", "fusion", "feedback"} <= set(ran)
    upload = e.reference_image("circle/circle_00.png")
    assert len(e.search(upload, "make it a star", k=3, method="searle").ids) == 3  # an upload is encoded too


def test_every_explainer_and_token_method_runs_through_the_bundle(fp64_engine):
    from infocir.explain.base import create_explainer, list_explainers, similarity_target
    from infocir.explain.faithfulness import deletion_insertion
    from infocir.explain.service import ExplanationService
    from infocir.explain.text_attribution import TOKEN_METHODS

    e = fp64_engine
    res = e.search("star/star_00.png", "make it red", k=2, method="searle")
    maps = ExplanationService(e, max_side=64)
    for cls in list_explainers():
        s = maps.saliency(res.query_vector, cls.name, image_id=res.ids[0])
        assert np.isfinite(s.grid).all() and s.aligned.shape[0] > 0
    for m in TOKEN_METHODS:
        t = maps.tokens("searle", "star/star_00.png", "make it red", res.ids[0], m)
        assert t.words[3] == "[image]" and np.isfinite(t.scores).all()
    b = e.bundle
    pixels = b.pixels([e.reference_image(res.ids[0])])
    target = similarity_target(res.query_vector, b)
    curves = deletion_insertion(b, pixels, target, create_explainer("grad_eclip").grid(b.model, pixels, target))
    assert np.isfinite(curves.deletion_auc) and np.isfinite(curves.insertion_auc)


def test_feedback_reference_map_runs_through_the_bundle(fp64_engine):
    """Feedback's per-candidate reference map (searle's φ, then Rocchio with the marked rows) on an fp64 model."""
    from infocir.explain.service import ExplanationService

    e = fp64_engine
    params = {"relevant": ["circle/circle_01.png"], "nonrelevant": ["square/square_00.png"]}
    res = e.search("star/star_00.png", "make it red", k=2, method="feedback", **params)
    sal = ExplanationService(e, max_side=64).reference_saliency(
        "feedback", "star/star_00.png", "make it red", res.ids[0], "grad_eclip", vector=res.query_vector, params=params
    )
    assert res.ids[0].rsplit("/", 1)[-1] in sal.target and np.isfinite(sal.grid).all()
    assert sal.score == pytest.approx(float(res.scores[0]), abs=0.01)


def test_enhancement_and_explain_eval_run_through_the_bundle(fp64_engine):
    from infocir.enhance import enhance
    from infocir.explain.evaluate import explain_eval

    e = fp64_engine
    table = enhance(
        e, "star/star_00.png", "change it", ideals=["circle/circle_01.png"], k=4, method="searle", provider="offline"
    )
    assert len(table.rows) > 1  # the baseline and at least one scored rewrite
    out = explain_eval(e, [{"reference_id": "star/star_00.png", "text": "make it red", "attribute": "colour"}])
    assert out["image"]["grad_eclip"]["maps"] == 2


def test_torch_search_backend_agrees_with_exact():
    from infocir.index.backends import create_backend
    from infocir.models.encoders import ClipBundle

    rng = np.random.default_rng(0)
    feats = rng.normal(size=(500, 16)).astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    feats[7] = feats[3]  # a tie: both backends put the lower row first
    bundle = ClipBundle(
        model=None,
        preprocess=None,
        tokenizer=None,
        name="",
        pretrained="",
        weights_hash="",
        preprocess_kind="clip",
        device=torch.device("cpu"),
        precision="fp32",
    )
    exact, tb = create_backend("exact", feats), create_backend("torch", feats, bundle)
    assert create_backend("auto", feats, bundle).name == "exact"  # no GPU: the CPU backend
    allowed = rng.random(500) < 0.5
    allowed[[3, 7]] = True
    for q in [feats[3], rng.normal(size=16).astype(np.float32)]:
        q = q / np.linalg.norm(q)
        for mask in (None, allowed):
            r1, s1 = exact.search(q, 10, mask)
            r2, s2 = tb.search(q, 10, mask)
            assert r1.tolist() == r2.tolist()
            np.testing.assert_allclose(s1, s2, atol=1e-6)
        np.testing.assert_allclose(exact.similarities(q), tb.similarities(q), atol=1e-6)


# --------------------------------------------------------------------------- static routing check
FACTORIES = {
    "tensor",
    "zeros",
    "ones",
    "full",
    "empty",
    "eye",
    "arange",
    "linspace",
    "randn",
    "rand",
    "randint",
    "as_tensor",
    "from_numpy",
}
# The bundle module itself creates tensors on the host and moves them.  Elsewhere a host tensor
# is allowed only on a line marked "# host:" with the reason (e.g. uint8 image pools, built once
# and moved batch by batch through bundle.tensor).
HOST_OK = {"models/encoders.py"}


def _torch_factory_calls_without_device(tree: ast.AST) -> list[int]:
    """Line numbers of ``torch.<factory>(...)`` calls with no ``device=`` whose result is not
    passed straight to ``<something>.tensor(...)`` (the bundle) or moved with ``device=``."""
    wrapped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "tensor":
            for arg in node.args:
                for inner in ast.walk(arg):
                    wrapped.add(id(inner))
    bad = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in FACTORIES
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "torch"
            and not any(k.arg == "device" for k in node.keywords)
            and id(node) not in wrapped
        ):
            bad.append(node.lineno)
    return bad


def _raw_input_calls(tree: ast.AST) -> list[int]:
    """Calls of a ``tokenizer`` or ``preprocess`` (bare or as an attribute): they make host
    tensors, so outside the bundle each needs a "# host:" reason (the bundle's ``tokens`` and
    ``pixels`` are the device-side versions)."""
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("tokenizer", "preprocess"):
                bad.append(node.lineno)
    return bad


def test_no_tensor_reaches_the_model_off_the_bundle():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in HOST_OK:
            continue
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source)
        for n in _torch_factory_calls_without_device(tree):
            if "# host:" not in lines[n - 1]:
                problems.append(
                    f"{rel}:{n} torch factory without device= (use bundle.tensor, device=, or mark '# host: why')"
                )
        for n in _raw_input_calls(tree):
            if "# host:" not in lines[n - 1]:
                problems.append(
                    f"{rel}:{n} model input built off the device "
                    "(use bundle.tokens / bundle.pixels, or mark '# host: why')"
                )
    assert not problems, "\n".join(problems)


def test_static_check_catches_the_original_bug():
    """The check would have flagged the code that crashed on the GPU."""
    old = ast.parse(
        "def f(bundle, v):\n    t = torch.as_tensor(v)\n    return bundle.model.encode_text(bundle.tokenizer(['x']))\n"
    )
    assert _torch_factory_calls_without_device(old) == [2]
    assert _raw_input_calls(old) == [3]
    ok = ast.parse(
        "def f(bundle, v):\n    t = bundle.tensor(torch.as_tensor(v))\n"
        "    return bundle.model.encode_text(bundle.tokens(['x']))\n"
    )
    assert _torch_factory_calls_without_device(ok) == [] and _raw_input_calls(ok) == []
