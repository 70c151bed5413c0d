"""Figure builders and gallery tiles are pure functions of data."""

import numpy as np
import plotly.graph_objects as go
import pytest

from infocir.ui.callbacks.gallery import tile
from infocir.ui.figures import (
    attribute_groups,
    class_colours,
    class_groups,
    class_histogram,
    class_weights,
    embedding_figure,
    rows_by_label,
    wordcloud_data_uri,
    wordcloud_picture,
)
from infocir.ui.uploads import UploadError, decode_upload


def test_colours_are_stable_and_distinct():
    c = class_colours(["star", "circle", "star", "heart"])
    assert list(c) == ["circle", "heart", "star"] and len(set(c.values())) == 3
    assert class_colours(["heart", "star", "circle"]) == c


def test_histogram_counts_sorted_and_highlight():
    fig = class_histogram(
        ["star", "circle", "star", "star", "heart"], "circle", class_colours(["star", "circle", "heart"])
    )
    bar = fig.data[0]
    assert list(bar.y) == ["star", "circle", "heart"] and list(bar.x) == [3, 1, 1]
    assert list(bar.marker.opacity) == [0.3, 1.0, 0.3]
    empty = class_histogram([], None, {})
    assert not empty.data and "Run a search" in empty.layout.annotations[0].text


def _png_pixels(uri: str) -> np.ndarray:
    import base64
    import io

    from PIL import Image

    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))


def test_wordcloud_handles_one_class_and_equal_counts():
    one = wordcloud_picture({"star": 4.0}, {"star": "#e45756"})
    px = _png_pixels(one.uri)
    assert px.shape == (220, 420, 3)
    ink = px[(px != 255).any(axis=-1)]  # everything but the white background
    colours, counts = np.unique(ink, axis=0, return_counts=True)
    assert tuple(colours[counts.argmax()]) == (0xE4, 0x57, 0x56)  # the word is drawn in its class colour
    assert [b[0] for b in one.boxes] == ["star"]
    equal = wordcloud_picture(class_weights(["a", "b", "c"]), {})
    assert sorted(b[0] for b in equal.boxes) == ["a", "b", "c"]  # every class placed, none dropped
    assert all(0 <= left <= 100 and 0 <= top <= 100 and w > 0 and h > 0 for _, left, top, w, h in equal.boxes)
    assert wordcloud_data_uri({}, {}) == ""


def test_class_weights_by_count_and_by_score():
    assert class_weights(["a", "b", "a"]) == {"a": 2.0, "b": 1.0}
    # scores shifted by their minimum plus 1e-3·(|max| + 1e-3): [1.1, 1.0, 0] + 0.000901, summed per class
    w = class_weights(["a", "b", "a"], [0.9, 0.8, -0.2])
    assert w == pytest.approx({"a": 1.100901 + 0.000901, "b": 1.000901})


def test_embedding_figure_marks_reference_query_and_results():
    coords = np.random.default_rng(0).normal(size=(30, 2)).astype(np.float32)
    classes = ["a"] * 10 + ["b"] * 20
    fig = embedding_figure(
        coords,
        classes,
        class_colours(classes),
        result_rows=[3, 4, 5],
        reference_xy=[0, 0],
        query_xy=[1, 1],
        highlight="a",
        show_lines=True,
        ideal_rows=[4],
    )
    names = [t.name for t in fig.data]
    assert names[:2] == ["a", "b"] and {"top-k", "ideals", "reference", "composed query", "links"} <= set(names)
    assert all(
        isinstance(t, go.Scattergl) for t in fig.data if t.name in ("a", "b", "top-k")
    )  # WebGL for the big traces
    trace = {t.name: t for t in fig.data}
    topk = trace["top-k"]
    assert list(topk.customdata) == [3, 4, 5]
    np.testing.assert_allclose(np.c_[topk.x, topk.y], coords[[3, 4, 5]], rtol=1e-6)  # drawn where the rows are
    np.testing.assert_allclose(np.c_[trace["ideals"].x, trace["ideals"].y], coords[[4]], rtol=1e-6)
    assert (list(trace["reference"].x), list(trace["reference"].y)) == ([0], [0])
    assert (list(trace["composed query"].x), list(trace["composed query"].y)) == ([1], [1])
    a, b = fig.data[0], fig.data[1]
    assert a.marker.opacity > b.marker.opacity  # the highlighted class stands out
    assert len(a.x) + len(b.x) == 30
    plain = embedding_figure(coords, classes, class_colours(classes))
    assert [t.name for t in plain.data] == ["a", "b"]


def test_map_traces_group_points_by_class_with_one_sort():
    """Many classes, a few thousand points: each class trace holds exactly that class's rows, ascending, and
    its coordinates (compared with a grouping computed by hand, one scan per class)."""
    rng = np.random.default_rng(3)
    n, n_classes = 4000, 300
    classes = [f"class {c:03d}" for c in rng.integers(0, n_classes, n)]
    coords = rng.normal(size=(n, 2)).astype(np.float32)
    colours = class_colours(classes)
    by_hand = {c: [r for r in range(n) if classes[r] == c] for c in sorted(set(classes))}
    fig = embedding_figure(coords, classes, colours)
    assert [t.name for t in fig.data] == list(by_hand)  # sorted class names, one trace each
    for t in fig.data:
        want = by_hand[t.name]
        assert list(t.customdata) == want
        np.testing.assert_array_equal(np.c_[t.x, t.y], coords[want])
    groups = class_groups(classes, colours)
    assert [r.tolist() for r in groups.rows] == list(by_hand.values())
    # names absent from the labels give empty groups; labels absent from the names (None: missing) none
    labels = ["b", None, "a", "b", "z", "a"]
    assert [r.tolist() for r in rows_by_label(labels, ["a", "b", "c"])] == [[2, 5], [0, 3], []]
    cat = attribute_groups("colour", "categorical", labels)
    assert cat.names == ("a", "b", "z", "(missing)")
    assert [r.tolist() for r in cat.rows] == [[2, 5], [0, 3], [4], [1]]


def test_tile_states():
    t = tile(1, "star/s1.png", 0.5, "star", ideal=True, highlight="circle")
    assert "ideal" in t.className and "dim" in t.className
    assert t.children[0].id == {"type": "tile", "id": "star/s1.png"}
    t2 = tile(None, "star/s1.png", None, "star", ideal=False, highlight="star")
    assert "hl" in t2.className and "ideal" not in t2.className


def test_upload_validation(tmp_path):
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "PNG")
    good = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    assert decode_upload(good, "x.png", 1.0) == buf.getvalue()
    for contents, name, limit, msg in [
        (good, "x.pdf", 1.0, "is not an image file"),
        ("data:image/png;base64," + base64.b64encode(b"text").decode(), "x.png", 1.0, "not a readable image"),
        (good, "x.png", 1e-6, "the limit is"),
        ("", "x.png", 1.0, "empty"),
    ]:
        with pytest.raises(UploadError, match=msg):
            decode_upload(contents, name, limit)
