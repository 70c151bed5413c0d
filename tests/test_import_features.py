"""import-features: clip-retrieval output and features.npy + ids.csv become an index the engine serves as is."""

import csv
import json
import sys

import numpy as np
import pytest

import infocir.index.store as store
from conftest import TINY_MODEL
from infocir.cli import main
from infocir.data.scan import scan_dataset
from infocir.engine import RetrievalEngine, bundle_for
from infocir.index.importer import FeatureImportError, import_features, read_parquet_column
from infocir.index.store import index_dir_for, load_index
from infocir.models.encoding import encode_images, l2_normalize, open_rgb


def cli_args(cfg, folder, *extra):
    return [
        "import-features",
        str(folder),
        "--dataset",
        cfg.dataset.root,
        "--model",
        TINY_MODEL,
        "--pretrained",
        "",
        "--set",
        "model.preprocess=clip",
        "--set",
        f"index.cache_dir={cfg.index.cache_dir}",
        *extra,
    ]


def write_plain(folder, feats, ids, header=True):
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "features.npy", feats)
    (folder / "ids.csv").write_text(("image_path\n" if header else "") + "".join(f"{i}\n" for i in ids))
    return folder


def write_clip_retrieval(folder, parts):
    """parts: list of (features, image_paths); written as img_emb_N.npy + metadata_N.parquet."""
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    (folder / "img_emb").mkdir(parents=True)
    (folder / "metadata").mkdir()
    for n, (f, paths) in enumerate(parts):
        np.save(folder / "img_emb" / f"img_emb_{n}.npy", f)
        pq.write_table(
            pa.table({"image_path": paths, "caption": [""] * len(paths)}), folder / "metadata" / f"metadata_{n}.parquet"
        )
    return folder


def no_encoding(monkeypatch, bundle):
    """From here on, any image encoding or index build fails the test."""

    def refuse(*a, **k):
        raise AssertionError("the engine encoded images instead of serving the imported index")

    monkeypatch.setattr(bundle.model, "encode_image", refuse)
    monkeypatch.setattr(store, "build_index", refuse)


def test_plain_pair_imports_raw_features_and_reports_bad_rows(tiny_cfg, capsys, monkeypatch):
    root = tiny_cfg.dataset.root
    bundle = bundle_for(tiny_cfg)
    d = bundle.embed_dim
    rng = np.random.default_rng(0)
    ids = [
        "star/star_01.png",
        f"{root}/circle/circle_00.png",
        "./square/square_02.png",
        "star/star_99.png",
        "circle/circle_01.png",
        "square/square_00.png",
        "star/star_01.png",
        "/elsewhere/x.png",
    ]
    feats = (rng.normal(size=(len(ids), d)) * 7).astype(np.float32)  # raw: norms far from 1
    feats[4, 3] = np.nan
    feats[5] = feats[0] + 2 * rng.normal(size=d)  # square_00 is star_01's nearest neighbour
    folder = write_plain(tiny_cfg.cache_dir.parent / "feats", feats, ids)

    assert main(cli_args(tiny_cfg, folder, "--sample", "0")) == 0
    out = capsys.readouterr().out
    assert "Imported 4 of 8 rows" in out and "4 rows left out" in out and "star/star_99.png" in out

    out_dir = index_dir_for(tiny_cfg.cache_dir, scan_dataset(root).root, bundle.name)
    idx = load_index(out_dir)
    # dataset order (as build-index writes it), each id with its own source row
    expected = {"circle/circle_00.png": 1, "square/square_00.png": 5, "square/square_02.png": 2, "star/star_01.png": 0}
    assert idx.ids == list(expected) and idx.classes == ["Circle", "Square", "Square", "Star"]
    src = feats[list(expected.values())]
    np.testing.assert_allclose(np.linalg.norm(idx.features, axis=1), 1.0, atol=2e-3)
    np.testing.assert_allclose(idx.features, l2_normalize(src), atol=2e-3)
    np.testing.assert_allclose(idx.norms, np.linalg.norm(src, axis=1), rtol=1e-5)  # raw norms kept exactly
    np.testing.assert_allclose(idx.raw_feature(3), src[3], rtol=2e-3, atol=2e-3)

    m = json.loads((out_dir / "manifest.json").read_text())
    assert m["count"] == 4 and m["source"]["format"] == "features.npy+ids.csv" and m["source"]["norms"] == "raw"
    assert m["source"]["rejected_rows"] == 4 and m["source"]["unindexed_images"] == 8
    with open(m["source"]["report"], newline="") as f:
        report = [(r["row"], r["path"], r["reason"]) for r in csv.DictReader(f)]
    rows = {r[0]: r[1:] for r in report if r[0]}
    assert rows["3"] == ("star/star_99.png", "image missing under the dataset root")
    assert rows["4"] == ("circle/circle_01.png", "non-finite values (NaN or inf)")
    assert rows["6"] == ("star/star_01.png", "duplicate of row 0")
    assert rows["7"][0] == "/elsewhere/x.png" and "outside the dataset root" in rows["7"][1] and len(rows) == 4
    unindexed = [r[1] for r in report if not r[0]]
    assert len(unindexed) == 8 and "circle/circle_01.png" in unindexed and "star/star_01.png" not in unindexed

    # The engine serves it as it is: no image is encoded, and the nearest row is the one we planted.
    no_encoding(monkeypatch, bundle)
    engine = RetrievalEngine.from_config(tiny_cfg, progress=False)
    assert engine.index.ids == list(expected)
    res = engine.search("star/star_01.png", "", k=2, method="image")
    assert res.ids == ["star/star_01.png", "square/square_00.png"]


def test_clip_retrieval_parts_in_numeric_order_with_foreign_absolute_paths(tiny_cfg, monkeypatch):
    scan = scan_dataset(tiny_cfg.dataset.root)
    bundle = bundle_for(tiny_cfg)
    recs = scan.records[:11]
    raw = encode_images(bundle, [open_rgb(r.path) for r in recs])
    unit = l2_normalize(raw).astype(np.float16)  # what clip-retrieval stores
    cluster = [f"/cluster/u/me/{scan.root.name}/{r.id}" for r in recs]
    # 11 parts of one row (img_emb_10 sorts before img_emb_2 as text), part 3 also holds a missing image
    parts = [(unit[i : i + 1], [cluster[i]]) for i in range(11)]
    parts[3] = (np.concatenate([unit[3:4], unit[0:1]]), [cluster[3], f"/cluster/u/me/{scan.root.name}/star/gone.png"])
    folder = write_clip_retrieval(tiny_cfg.cache_dir.parent / "clipret", parts)

    summary = import_features(tiny_cfg, folder, sample=4)
    idx = load_index(summary.index_dir)
    assert idx.ids == [r.id for r in recs]  # prefix /cluster/u/me/<root name> inferred and stripped
    assert summary.manifest.source["path_prefix"] == f"/cluster/u/me/{scan.root.name}"
    np.testing.assert_allclose(idx.features, unit.astype(np.float32), atol=2e-3)
    assert [(r.row, r.reason) for r in summary.rejected] == [(4, "image missing under the dataset root")]
    assert summary.unindexed == [scan.records[11].id]
    # normalised source: raw norms are unknown; every row gets the median raw norm of the encoded sample
    src = summary.manifest.source
    assert src["norms"] == "estimated" and src["sample_images"] == 4 and src["sample_median_cosine"] > 0.99
    raw_norms = np.linalg.norm(raw, axis=1)
    assert np.ptp(idx.norms) == 0 and raw_norms.min() <= idx.norms[0] <= raw_norms.max()
    assert any("φ receives the exact direction" in n for n in summary.notes)

    no_encoding(monkeypatch, bundle)
    engine = RetrievalEngine.from_config(tiny_cfg, progress=False)
    assert len(engine.index) == 11
    assert engine.search(recs[5].id, "", k=1, method="image").ids == [recs[5].id]


def test_normalised_features_without_a_sample_get_unit_norms(tiny_cfg):
    d = bundle_for(tiny_cfg).embed_dim
    feats = l2_normalize(np.random.default_rng(1).normal(size=(2, d))).astype(np.float32)
    folder = write_plain(tiny_cfg.cache_dir.parent / "f", feats, ["star/star_00.png", "star/star_02.png"], header=False)
    summary = import_features(tiny_cfg, folder, sample=0)
    idx = load_index(summary.index_dir)
    assert idx.ids == ["star/star_00.png", "star/star_02.png"]  # no header line: every line is an id
    np.testing.assert_array_equal(idx.norms, [1.0, 1.0])
    assert (
        summary.manifest.source["norms"] == "unit" and "receives unit vectors" in summary.manifest.source["norms_note"]
    )


def test_features_of_another_model_are_refused_by_the_sample_check(tiny_cfg):
    d = bundle_for(tiny_cfg).embed_dim
    feats = np.random.default_rng(2).normal(size=(6, d)).astype(np.float32)
    ids = [r.id for r in scan_dataset(tiny_cfg.dataset.root).records[:6]]
    folder = write_plain(tiny_cfg.cache_dir.parent / "f", feats, ids)
    with pytest.raises(FeatureImportError, match="do not match model") as e:
        import_features(tiny_cfg, folder, sample=6)
    assert "--sample 0" in str(e.value)
    assert not (tiny_cfg.cache_dir / "index").exists()  # nothing written


def test_dimension_mismatch_exits_1_with_a_clear_message(tiny_cfg, capsys):
    d = bundle_for(tiny_cfg).embed_dim
    folder = write_plain(
        tiny_cfg.cache_dir.parent / "f", np.ones((2, d + 3), np.float32), ["star/star_00.png", "star/star_01.png"]
    )
    assert main(cli_args(tiny_cfg, folder)) == 1
    err = capsys.readouterr().err
    assert f"dimension {d + 3}" in err and f"embeds into {d}" in err and TINY_MODEL in err and "Traceback" not in err


def test_unusable_folders_give_clear_errors(tiny_cfg, tmp_path, capsys):
    d = bundle_for(tiny_cfg).embed_dim
    assert main(cli_args(tiny_cfg, tmp_path / "nothing")) == 1
    assert "Feature folder not found" in capsys.readouterr().err
    folder = write_plain(tmp_path / "short", np.ones((3, d), np.float32), ["star/star_00.png", "star/star_01.png"])
    assert main(cli_args(tiny_cfg, folder)) == 1
    assert "holds 3 rows but" in capsys.readouterr().err
    folder = write_plain(tmp_path / "none", np.ones((1, d), np.float32), ["nope/a.png"])
    assert main(cli_args(tiny_cfg, folder, "--sample", "0")) == 1
    assert "None of the 1 rows" in capsys.readouterr().err


def test_missing_pyarrow_says_how_to_install_it(tmp_path, monkeypatch):
    for name in ("pyarrow", "pyarrow.parquet", "fastparquet"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if not installed
    (tmp_path / "metadata_0.parquet").write_bytes(b"PAR1")
    with pytest.raises(FeatureImportError, match="pip install pyarrow"):
        read_parquet_column(tmp_path / "metadata_0.parquet", "image_path")
