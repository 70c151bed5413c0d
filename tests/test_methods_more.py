import math

import numpy as np
import pytest

from infocir.config import apply_overrides
from infocir.data.corpora import CORPUS_DIR, CorpusError, read_corpus
from infocir.engine import RetrievalEngine
from infocir.methods.basic import contrastive_projection
from infocir.methods.feedback import rocchio
from infocir.methods.fusion import rank_votes


@pytest.fixture
def engine(tiny_engine):
    """The session's tiny engine (conftest), read only here."""
    return tiny_engine


def test_contrastive_projection_keeps_subject_directions_and_drops_style_ones():
    rng = np.random.default_rng(0)
    d = 6
    pos = np.zeros((200, d))
    pos[:, 0] = rng.normal(0, 3, 200)
    pos[:, 1:] = rng.normal(0, 0.1, (200, d - 1))
    neg = np.zeros((200, d))
    neg[:, 1] = rng.normal(0, 3, 200)
    neg[:, 2:] = rng.normal(0, 0.1, (200, d - 2))
    p = contrastive_projection(pos, neg, 0.2, 250)
    assert abs(p[0, 0]) > 0.99  # the top direction is the subjects' axis
    assert np.all(np.abs(p[1]) < 0.1)  # the styles' axis is not kept (negative eigenvalue)
    np.testing.assert_allclose(p.T @ p, np.eye(p.shape[1]), atol=1e-5)
    assert contrastive_projection(pos, neg, 0.2, 0.5).shape[1] == 1  # energy threshold


def test_basic_scores_follow_the_harris_fusion(engine):
    comp = engine.compose("star/star_00.png", "make it red", "basic")
    s_i, s_t = comp.extras["image_scores"], comp.extras["text_scores"]
    assert s_i.min() >= 0 and s_t.min() >= 0  # normalised and clamped
    np.testing.assert_allclose(comp.scores, s_t * s_i - 0.1 * (s_t + s_i) ** 2, atol=1e-5)
    assert len(engine.search("star/star_00.png", "make it red", k=5, method="basic").ids) == 5


def test_basic_corpora_and_their_errors(tmp_path, engine):
    shipped = (CORPUS_DIR / "demo_subjects.csv").read_text().splitlines()
    assert shipped[0] == "text" and read_corpus("demo_subjects") == shipped[1:]  # the header row is not a text
    f = tmp_path / "c.csv"
    f.write_text("caption\na dog\na cat\n")
    assert read_corpus(str(f)) == ["a dog", "a cat"]
    with pytest.raises(CorpusError, match="not found"):
        read_corpus(str(tmp_path / "none.csv"))
    cfg = apply_overrides(engine.config, {"basic.positive_corpus": str(tmp_path / "none.csv")})
    other = RetrievalEngine(cfg, engine.bundle, engine.scan, engine.index)
    info = {m.name: m for m in other.methods()}["basic"]
    assert not info.available and "not found" in info.reason


def test_rocchio_formula():
    q = np.array([1.0, 0, 0])
    rel = np.array([[0, 1.0, 0], [0, 1.0, 0]])
    non = np.array([[0, 0, 1.0]])
    out = rocchio(q, rel, non, 1.0, 0.75, 0.15)
    expected = np.array([1.0, 0.75, -0.15])
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(out, expected)
    np.testing.assert_allclose(rocchio(q, rel[:0], non[:0], 1, 1, 1), q)


def test_feedback_pulls_marked_images_up(engine):
    base = engine.search("star/star_00.png", "a circle", k=12, method="average")
    target = base.ids[-1]  # the worst-ranked image
    fb = engine.search(
        "star/star_00.png",
        "a circle",
        k=12,
        method="feedback",
        base="average",
        relevant=[target],
        nonrelevant=[base.ids[1]],
        beta=2.0,
    )
    assert fb.ids.index(target) < base.ids.index(target)
    # a pure push (β = 0) lowers the non-relevant image's similarity: cos(q − x, x) ≤ cos(q, x)
    away = base.ids[0]
    pushed = engine.compose(
        "star/star_00.png", "a circle", "feedback", base="average", nonrelevant=[away], beta=0.0, gamma=1.0
    )
    row = engine.index.row_of[away]
    assert pushed.scores[row] < base.all_scores[row]


def test_rank_votes_hand_worked():
    v = rank_votes([[0, 1, 2], [1, 0]], 4)
    assert v[0] == pytest.approx(2 + (2 + math.log(1 / 2)))
    assert v[1] == pytest.approx(v[0])
    assert v[2] == pytest.approx(2 + math.log(1 / 3))
    assert v[3] == 0
    deep = rank_votes([list(range(20))], 20)
    assert deep[7:].sum() == 0 and deep[6] > 0  # votes stop where log(1/(i+1)) + 2 ≤ 0


def test_fusion_of_one_list_keeps_its_order_and_combines_methods(engine):
    one = engine.search("star/star_00.png", "make it red", k=6, method="fusion", methods=["average"])
    avg = engine.search("star/star_00.png", "make it red", k=6, method="average")
    assert one.ids == avg.ids
    # two methods × two phrasings: every image gets Σ max(0, 2 − ln rank) over the four member rankings,
    # plus a tie-break below 1e-3
    ref, texts, n = "star/star_00.png", ["make it red", "a red shape"], len(engine.index)
    votes = np.zeros(n)
    for method in ("average", "image"):
        for text in texts:
            for rank, iid in enumerate(engine.search(ref, text, k=n, method=method).ids, start=1):
                votes[engine.index.row_of[iid]] += max(0.0, 2 - math.log(rank))
    fused = engine.compose(ref, "make it red", "fusion", methods=["average", "image"], texts=texts)
    assert fused.extras["lists"] == 4
    np.testing.assert_allclose(fused.scores, votes, atol=1.01e-3)


def test_feedback_rounds_iterate_rocchio_by_hand(engine):
    """Two rounds = Rocchio applied twice, each to the previous round's query (computed here from the rule):
    q1 = norm(α q0 + β mean(R1) − γ mean(N1)), q2 = norm(α' q1 + β' mean(R2)) with round 2's own weights."""
    ref, text = "star/star_00.png", "a circle"
    q0 = engine.compose(ref, text, "average").query_vector
    ids = engine.search(ref, text, k=12, method="average").ids
    feats = {i: engine.index.row(engine.index.row_of[i]).astype(np.float64) for i in ids}

    def unit(v):
        return v / np.linalg.norm(v)

    fb = engine.config.feedback
    q1 = unit(fb.alpha * q0 + fb.beta * feats[ids[5]] - fb.gamma * (feats[ids[0]] + feats[ids[1]]) / 2)
    q2 = unit(0.5 * q1 + 2.0 * feats[ids[9]])
    rounds = [
        {"relevant": [ids[5]], "nonrelevant": [ids[0], ids[1]]},
        {"relevant": [ids[9]], "nonrelevant": [], "alpha": 0.5, "beta": 2.0},
    ]
    got = engine.compose(ref, text, "feedback", base="average", rounds=rounds).query_vector
    np.testing.assert_allclose(got, q2, atol=1e-5)
    # the call's own marks are one more round after them
    q3 = unit(fb.alpha * q2 + fb.beta * feats[ids[3]])
    got3 = engine.compose(ref, text, "feedback", base="average", rounds=rounds, relevant=[ids[3]]).query_vector
    np.testing.assert_allclose(got3, q3, atol=1e-5)


@pytest.mark.parametrize(
    "rounds",
    [["x"], [{"relevant": "a"}], [{"relevant": [], "beta": -1}], [{"relevant": [], "delta": 1}], [{"alpha": True}]],
)
def test_feedback_rounds_are_checked(engine, rounds):
    from infocir.methods.base import MethodParameterError

    with pytest.raises(MethodParameterError, match="rounds"):
        engine.compose("star/star_00.png", "a circle", "feedback", base="average", rounds=rounds)
