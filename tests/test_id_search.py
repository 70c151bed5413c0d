"""Panel A's reference picker searches the ids on the server (issue 21): at most ``limit`` ids per answer."""

from infocir.index.id_search import IdSearch, reference_options


def by_hand(ids, query, limit):
    return [i for i in ids if query.lower() in i.lower()][:limit]


def test_substring_search_is_case_insensitive_capped_and_in_index_order():
    ids = [f"Class_{c}/img_{i:05d}.JPG" for i in range(3000) for c in ("a", "b")][:5000]
    s = IdSearch(ids)
    for query, limit in [("img_0001", 50), ("class_b/IMG_02", 7), ("jpg", 50), ("_04999", 5), ("nothing", 50)]:
        assert s.search(query, limit) == by_hand(ids, query, limit)
    assert s.search("", 3) == ids[:3] and s.search("  ", 3) == ids[:3]  # nothing typed: the first ids
    assert s.search("g\nc", 10) == []  # never a match across two ids
    assert IdSearch(["ab", "cd"]).search("bc", 5) == []
    assert IdSearch(["ab", "abab", "xab"]).search("ab", 10) == ["ab", "abab", "xab"]  # each id once


def test_ids_whose_lower_case_changes_length_fall_back_to_a_scan():
    ids = ["İstanbul/1.png", "paris/İ.png", "rome/3.png"]  # "İ".lower() is two characters
    s = IdSearch(ids)
    assert s.search("png", 10) == ids and s.search("rome", 10) == ["rome/3.png"]


def test_options_always_list_the_reference():
    s = IdSearch([f"x/{i}.png" for i in range(100)])
    assert reference_options(s, "", 3, "x/50.png") == ["x/0.png", "x/1.png", "x/2.png", "x/50.png"]
    assert reference_options(s, "x/1", 2, "x/1.png", None) == ["x/1.png", "x/10.png"]  # not twice
    assert reference_options(s, "nothing", 5, None) == []
