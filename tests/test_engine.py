import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from infocir.engine import QueryError, RetrievalEngine
from infocir.methods.base import MissingInput
from infocir.models.encoding import ImageReadError


@pytest.fixture
def engine(tiny_cfg):
    return RetrievalEngine.from_config(tiny_cfg, progress=False)


def test_image_only_returns_the_reference_first(engine):
    for ref in ("star/star_02.png", "circle/circle_00.png"):
        res = engine.search(ref, "", k=5, method="image")
        assert res.ids[0] == ref
        assert res.scores[0] == pytest.approx(1.0, abs=1e-3)
        assert list(res.scores) == sorted(res.scores, reverse=True)
        assert len(res.ids) == len(res.paths) == len(res.classes) == 5
        assert Path(res.paths[0]).is_file()


def test_uploaded_image_bytes_match_the_dataset_image(engine):
    path = engine.index.paths[engine.index.row_of["square/square_01.png"]]
    res = engine.search(Path(path).read_bytes(), "", k=3, method="image")
    assert res.ids[0] == "square/square_01.png" and res.reference_id is None
    res2 = engine.search(Image.open(path), "", k=3, method="image")
    assert res2.ids == res.ids


def test_text_and_average_methods_rank_the_whole_index(engine):
    t = engine.search(None, "a red star", k=100, method="text")
    assert len(t.ids) == 12 and len(set(t.ids)) == 12  # k larger than the index: everything, once
    a = engine.search("star/star_00.png", "make it red", k=4, method="average")
    txt = engine.encode_text(["make it red"])[0]
    expected = engine.index.features[engine.index.row_of["star/star_00.png"]] + txt / np.linalg.norm(txt)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(a.query_vector, expected, atol=1e-4)
    for m in ("product", "weicom"):
        r = engine.search("star/star_00.png", "make it red", k=4, method=m)
        assert len(r.ids) == 4 and r.query_vector is None


def test_bad_queries_have_clear_errors(engine):
    with pytest.raises(QueryError, match="Unknown reference image id"):
        engine.search("nope.png", "x", method="image")
    with pytest.raises(MissingInput, match="needs a reference image"):
        engine.search(None, "x", method="average")
    with pytest.raises(MissingInput, match="needs a modification text"):
        engine.search("star/star_00.png", "  ", method="text")
    with pytest.raises(ImageReadError, match="not a recognised image"):
        engine.search(b"%PDF-1.4 not an image", "x", method="image")
    with pytest.raises(KeyError, match="available: image"):
        engine.search("star/star_00.png", "x", method="magic")


def test_exclude_reference_leaves_a_dataset_reference_out_of_its_results(engine):
    ref = "star/star_02.png"
    kept = engine.search(ref, "", k=5, method="image")
    dropped = engine.search(ref, "", k=4, method="image", exclude_reference=True)
    assert kept.ids[0] == ref and ref not in dropped.ids
    assert dropped.ids == kept.ids[1:]  # the same ranking, one place up
    np.testing.assert_allclose(dropped.scores, kept.scores[1:])
    assert dropped.all_scores[engine.index.row_of[ref]] == pytest.approx(1.0, abs=1e-3)  # every score is still there
    # with the text: SEARLE-like methods put the reference high too; it is gone whatever the method
    for m in ("average", "text"):
        assert ref not in engine.search(ref, "make it red", k=12, method=m, exclude_reference=True).ids
    # k beyond the index: every image but the reference
    every = engine.search(ref, "", k=100, method="image", exclude_reference=True)
    assert len(every.ids) == len(engine.index) - 1 and ref not in every.ids
    # with an allowed mask the two restrictions combine
    allowed = np.zeros(len(engine.index), bool)
    allowed[[engine.index.row_of[ref], 1, 5]] = True
    assert sorted(
        engine.search(ref, "", k=10, method="image", allowed=allowed, exclude_reference=True).rows.tolist()
    ) == [1, 5]
    assert allowed[engine.index.row_of[ref]]  # the caller's mask is not changed


def test_exclude_reference_keeps_uploads_and_follows_one_rule(engine):
    """An image from outside the index is never dropped (even when it equals a dataset image): the rule is
    ``reference_row``, the same one the evaluation harness applies."""
    path = engine.index.paths[engine.index.row_of["square/square_01.png"]]
    res = engine.search(Path(path).read_bytes(), "", k=3, method="image", exclude_reference=True)
    assert res.ids[0] == "square/square_01.png"
    assert engine.reference_row("square/square_01.png") == engine.index.row_of["square/square_01.png"]
    assert engine.reference_row(Path(path).read_bytes()) is None and engine.reference_row(None) is None
    assert engine.reference_row("not/in/the/index.png") is None
    assert engine.config.retrieval.exclude_reference is True  # the dashboard's switch starts on


def test_allowed_mask_restricts_results(engine):
    allowed = np.zeros(len(engine.index), bool)
    allowed[[1, 5, 7]] = True
    res = engine.search("star/star_00.png", "", k=10, method="image", allowed=allowed)
    assert sorted(res.rows.tolist()) == [1, 5, 7]


def test_methods_are_listed_with_availability(engine):
    infos = {m.name: m for m in engine.methods()}
    assert list(infos)[:3] == ["image", "text", "average"]
    assert all(infos[n].available for n in ("image", "text", "average", "product", "weicom", "oti"))
    # the tiny test model has no φ checkpoint: SEARLE is listed, unavailable, with a reason
    assert not infos["searle"].available and "phi_checkpoint" in infos["searle"].reason


def test_engine_import_does_not_import_dash():
    code = (
        "import sys;"
        "import infocir.engine, infocir.cli, infocir.methods;"
        "assert 'dash' not in sys.modules, 'engine imported dash'; print('ok')"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
