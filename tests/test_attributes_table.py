"""attributes.csv beside a dataset: read, aligned to the index's ids, and refused with a clear message."""

from __future__ import annotations

import pytest

from infocir.data.attributes_table import (
    AttributeTableError,
    load_attribute_table,
    parse_attribute_table,
    read_attribute_table,
)

IDS = ["star/a.png", "star/b.png", "heart/c.png"]


def test_columns_are_aligned_to_the_dataset_ids():
    text = "image_id,colour,size\nheart/c.png,red,small\nstar/a.png,blue,large\nother/x.png,green,small\n"
    t = parse_attribute_table(text, IDS)
    assert t.names() == ["colour", "size"]
    assert t.columns["colour"].values == ("blue", None, "red")  # star/b.png is not in the file
    assert t.columns["colour"].kind == "categorical" and t.columns["colour"].categories() == ["blue", "red"]
    assert t.matched == 2 and t.unknown_ids == 1
    assert t.value("size", 0) == "large" and t.value("nope", 0) is None


def test_many_distinct_numbers_make_a_numeric_column_few_stay_categories():
    ids = [f"x/{i}.png" for i in range(20)]
    rows = "".join(f"x/{i}.png,{i * 0.5},{i % 3}\n" for i in range(20))
    t = parse_attribute_table("image_id,brightness,group\n" + rows, ids)
    assert t.columns["brightness"].kind == "numeric" and t.columns["brightness"].values[3] == 1.5
    assert t.columns["group"].kind == "categorical" and t.columns["group"].categories() == ["0", "1", "2"]


@pytest.mark.parametrize(
    "text, needle",
    [
        ("", "is empty"),
        ("id,colour\nstar/a.png,red\n", "no 'image_id' column"),
        ("image_id\nstar/a.png\n", "at least one attribute column"),
        ("image_id,colour,colour\nstar/a.png,red,blue\n", "more than once"),
        ("image_id,colour\nstar/a.png,red,extra\n", "line 2: 3 fields"),
        ("image_id,colour\nstar/a.png,red\nstar/a.png,blue\n", "listed twice"),
        ("image_id,colour\nelsewhere/a.png,red\n", "none of its 1 image ids"),
    ],
)
def test_bad_tables_say_what_to_fix(text, needle):
    with pytest.raises(AttributeTableError, match=needle):
        parse_attribute_table(text, IDS)


def test_files_bom_encoding_and_the_loader_keep_the_app_working(tmp_path):
    assert load_attribute_table(tmp_path, IDS) == (None, "")  # no file: nothing to say
    (tmp_path / "attributes.csv").write_text("\ufeffimage_id,colour\nstar/a.png,red\n", encoding="utf-8")
    table, message = load_attribute_table(tmp_path, IDS)
    assert message == "" and table.columns["colour"].values == ("red", None, None)
    (tmp_path / "attributes.csv").write_bytes(b"image_id,colour\nstar/a.png,\xff\xfe\n")
    with pytest.raises(AttributeTableError, match="not UTF-8"):
        read_attribute_table(tmp_path / "attributes.csv", IDS)
    table, message = load_attribute_table(tmp_path, IDS)
    assert table is None and "not UTF-8" in message and "coloured by class only" in message


def test_the_demo_world_table_reads(demo_world_engine):
    engine, root = demo_world_engine
    table, message = load_attribute_table(root, engine.index.ids)
    assert message == "" and table.matched == len(engine.index)
    assert table.names() == ["shape", "colour", "size", "background", "style"]
    row = engine.index.row_of[engine.index.ids[0]]
    assert table.value("shape", row) == engine.index.ids[0].split("/")[0]
