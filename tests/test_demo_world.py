import numpy as np

from infocir.data import demo_world as W


def test_generator_is_deterministic_for_a_seed():
    a = W.Attributes("star", "red", "small", "striped", "sketch")
    img1, m1 = W.render(a, np.random.default_rng(5))
    img2, m2 = W.render(a, np.random.default_rng(5))
    img3, _ = W.render(a, np.random.default_rng(6))
    assert np.array_equal(np.asarray(img1), np.asarray(img2)) and np.array_equal(m1, m2)
    assert not np.array_equal(np.asarray(img1), np.asarray(img3))
    assert img1.size == (128, 128) and m1.shape == (128, 128)


def test_world_has_the_required_attribute_space():
    assert len(W.SHAPES) >= 8 and len(W.COLOURS) == 8 and len(W.SIZES) == 2
    assert len(W.BACKGROUNDS) == 5 and len(W.STYLES) == 3
    assert len(W.all_combinations()) == 8 * 8 * 2 * 5 * 3


def test_mask_covers_the_object_and_size_changes_area():
    small = W.render(W.Attributes("square", "blue", "small", "plain", "filled"), np.random.default_rng(0))[1].mean()
    large = W.render(W.Attributes("square", "blue", "large", "plain", "filled"), np.random.default_rng(0))[1].mean()
    assert 0.03 < small < large < 0.6 and large / small > 2


def test_dataset_layout_and_ground_truth_consistency(tmp_path):
    spec = W.DemoWorldSpec(seed=3, replicates=1, side=64, n_queries=60)
    root = W.generate_dataset(tmp_path / "world", spec)
    assert (root / "class_names.csv").read_text().splitlines()[0] == "dir_name,class_name"
    attrs = W.read_attributes(root)
    assert len(attrs) == 1920 and all((root / i).is_file() for i in list(attrs)[:50])
    queries = W.read_queries(root)
    assert len(queries) == 60 and {q["attribute"] for q in queries} == set(W.ATTRIBUTES)
    for q in queries:
        ref = attrs[q["reference_id"]]
        assert getattr(ref, q["attribute"]) != q["new_value"]
        expected = ref.replace(q["attribute"], q["new_value"])
        want = {i for i, a in attrs.items() if a == expected}
        assert set(q["target_ids"]) == want and len(want) == 1
    masks = W.read_masks(root)
    assert masks[queries[0]["reference_id"]].shape == (64, 64)
    # same seed → same files
    root2 = W.generate_dataset(tmp_path / "again", spec)
    assert (root / "queries.json").read_text() == (root2 / "queries.json").read_text()
    some = queries[0]["reference_id"]
    assert (root / some).read_bytes() == (root2 / some).read_bytes()
