"""Prompt enhancement (panel E, engine side): parsing, providers (a fake OpenAI-compatible server,
Gemini stubbed at its network boundary), the registry, the offline generator on vague demo queries,
and the scoring table."""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from infocir.config import AppConfig, apply_overrides
from infocir.enhance import (
    EnhancementError,
    EnhancementResult,
    PromptRow,
    VisualContext,
    VocabWord,
    build_context,
    build_prompt,
    create_provider,
    enhance,
    evaluate_offline,
    list_providers,
    parse_candidates,
    resolve_provider,
    score_prompts,
    vague_query_benchmark,
)
from infocir.enhance import gemini as gemini_mod
from infocir.enhance.offline import generate_offline
from infocir.enhance.scoring import best_per_column, rank_rows
from infocir.metrics import prompt_metrics
from infocir.models.encoders import ASSET_DIR

KEY_VARS = ("GOOGLE_API_KEY", "GEMINI_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL")
SECRET = "sk-test-secret-4242"
needs_demo = pytest.mark.skipif(not (ASSET_DIR / "InfoCIR-Demo-ViT.pt").exists(), reason="demo weights not trained yet")


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    """No test may see a real key (or reach a real service) through the environment."""
    for v in KEY_VARS:
        monkeypatch.delenv(v, raising=False)


def ctx(**kw) -> VisualContext:
    base = dict(
        original_text="change it",
        n_ideals=2,
        reference_class="star",
        reference_words=("star", "blue"),
        ideal_classes=(("heart", 2),),
        ideal_captions=("a small red filled heart on a plain background",),
        ideal_words=(VocabWord("heart", "class", 0.2), VocabWord("red", "colour", 0.1)),
    )
    return VisualContext(**{**base, **kw})


def cfg_with(**enh) -> AppConfig:
    return apply_overrides(AppConfig(), {f"enhancement.{k}": v for k, v in enh.items()})


# --------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    "answer",
    [
        "Sure! Here are some prompts:\n\n1. Make it red.\n2) \"turn it into a heart\"\n3 - a red heart\n\n"
        "Hope this helps!",
        "- make it red\n* turn it into a heart\n• a red heart",
        '```json\n["make it red", "turn it into a heart", "a red heart"]\n```',
        'Here you go: {"prompts": ["make it red", "turn it into a heart", "a red heart"]}',
        '[{"prompt": "make it red"}, {"text": "turn it into a heart"}, {"prompt": "a red heart"}]',
        "## Prompts\n1. **Make it red** — emphasises the colour\n2. Prompt 2: turn it into a heart\n3. `a red heart`",
    ],
)
def test_parse_candidates_formats(answer):
    got = parse_candidates(answer, 10, "change it")
    assert [g.lower() for g in got] == ["make it red", "turn it into a heart", "a red heart"]


def test_parse_drops_original_duplicates_empty_and_long_lines_and_cuts_at_n():
    long = "make it " + " ".join(["very"] * 40) + " red"
    answer = (
        "1. Change it.\n2. make it red\n3. Make it red!\n4.\n5. " + long + "\n6. a red heart\n7. a heart\n8. a red one"
    )
    assert parse_candidates(answer, 10, "change it") == ["make it red", "a red heart", "a heart", "a red one"]
    assert parse_candidates(answer, 2, "change it") == ["make it red", "a red heart"]


@pytest.mark.parametrize(
    "answer, words",
    [
        ("I'm sorry, but I can't help with that request.", "declined"),
        ("", "empty"),
        ("   \n ", "empty"),
        ("1. change it\n2. Change it.", "no usable"),
        ('{"error": 42}', "no usable"),
    ],
)
def test_parse_refusal_and_junk_raise_clear_errors(answer, words):
    with pytest.raises(EnhancementError, match=words) as e:
        parse_candidates(answer, 5, "change it")
    assert "original query is kept" in str(e.value)


def test_build_prompt_holds_text_reference_and_visual_context_when_asked():
    c = ctx(changed_attributes={"colour": "red"}, reference_attributes={"colour": "blue"})
    p = build_prompt(c, 7, use_context=True)
    for part in ('"change it"', "star", "heart (2)", "a small red filled heart", "red", "colour blue → red", "7"):
        assert part in p
    bare = build_prompt(c, 7, use_context=False)
    assert '"change it"' in bare and "heart" not in bare and "JSON array of 7" in bare


# --------------------------------------------------------------------------- fake OpenAI-compatible server
@pytest.fixture
def server(stub_server):
    """The stub server answering as a chat model would, well or badly (``server.mode``)."""
    Reply, chat = stub_server.Reply, stub_server.chat
    stub_server.modes = {
        "good": lambda req: chat("Sure! Here are 3 prompts:\n1. make it red\n2. turn it into a heart\n3. a red heart"),
        "slow": lambda req: dataclasses.replace(chat("1. make it red"), delay_s=2.5),
        # a hostile server echoing the key back must not get it into our messages
        "http401": lambda req: Reply(401, json.dumps({"error": f"bad key {req['auth']}"}).encode()),
        "malformed": lambda req: Reply(200, b"<html>502 gateway</html>"),
        "junk": lambda req: chat("¯\\_(ツ)_/¯ ..."),
        "refusal": lambda req: chat("I'm sorry, I cannot do that."),
    }
    return stub_server


def server_cfg(srv, **kw) -> AppConfig:
    return cfg_with(openai_base_url=srv.url(), openai_model="test-model", timeout_s=1, **kw)


def test_openai_compatible_good_answer(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    got = create_provider("openai").generate(ctx(), 3, server_cfg(server))
    assert got == ["make it red", "turn it into a heart", "a red heart"]
    req = server.requests[-1]
    assert req["path"] == "/v1/chat/completions" and req["body"]["model"] == "test-model"
    assert req["auth"] == f"Bearer {SECRET}"
    assert '"change it"' in req["body"]["messages"][-1]["content"]


def test_openai_compatible_no_key_sends_no_auth_header(server):
    create_provider("openai").generate(ctx(), 3, server_cfg(server))
    assert server.requests[-1]["auth"] is None


@pytest.mark.parametrize(
    "mode, words",
    [
        ("malformed", "not JSON"),
        ("junk", "no usable prompt"),
        ("refusal", "declined"),
        ("http401", "HTTP 401.*OPENAI_API_KEY"),
    ],
)
def test_openai_compatible_bad_answers_give_clear_errors_without_the_key(server, monkeypatch, mode, words):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server.mode = mode
    with pytest.raises(EnhancementError, match=words) as e:
        create_provider("openai").generate(ctx(), 3, server_cfg(server))
    assert "original query is kept" in str(e.value) and SECRET not in str(e.value)


def test_openai_compatible_slow_server_times_out(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server.mode = "slow"
    t0 = time.perf_counter()
    with pytest.raises(EnhancementError, match=r"did not answer within 1 s.*timeout_s") as e:
        create_provider("openai").generate(ctx(), 3, server_cfg(server))
    assert time.perf_counter() - t0 < 2.3 and SECRET not in str(e.value)


def test_openai_compatible_connection_refused():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    cfg = cfg_with(openai_base_url=f"http://127.0.0.1:{port}/v1", timeout_s=1)
    with pytest.raises(EnhancementError, match="connection refused.*openai_base_url"):
        create_provider("openai").generate(ctx(), 3, cfg)


# --------------------------------------------------------------------------- Gemini (stubbed)
def test_gemini_stubbed_at_the_network_boundary(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    seen = {}

    def fake_call(self, prompt, key, cfg):
        seen.update(prompt=prompt, key=key)
        return 'Okay!\n```json\n{"prompts": ["make it red", "a red heart", "make it red"]}\n```'

    monkeypatch.setattr(gemini_mod.GeminiProvider, "call", fake_call)
    assert create_provider("gemini").generate(ctx(), 5, AppConfig()) == ["make it red", "a red heart"]
    assert seen["key"] == SECRET and "heart (2)" in seen["prompt"]


@pytest.fixture
def generativeai(monkeypatch):
    """google-generativeai with its model class and configure() replaced: no network, calls recorded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        genai = pytest.importorskip("google.generativeai")
    calls = {"answer": "1. make it red\n2. a red heart", "raise": None}

    class FakeResponse:
        @property
        def text(self):
            if calls["answer"] is None:
                raise ValueError("response has no parts (blocked)")
            return calls["answer"]

    class FakeModel:
        def __init__(self, name, **kw):
            calls["model"] = name

        def generate_content(self, prompt, **kw):
            calls["prompt"], calls["kw"] = prompt, kw
            if calls["raise"] is not None:
                raise calls["raise"]
            return FakeResponse()

    monkeypatch.setattr(genai, "configure", lambda **kw: calls.update(configure=kw))
    monkeypatch.setattr(genai, "GenerativeModel", FakeModel)
    monkeypatch.setattr(gemini_mod, "client_package", lambda: "google.generativeai")
    monkeypatch.setenv("GOOGLE_API_KEY", SECRET)
    return calls


def test_gemini_through_generativeai_uses_rest_key_and_timeout(generativeai):
    cfg = cfg_with(timeout_s=7, gemini_model="gemini-test")
    assert create_provider("gemini").generate(ctx(), 5, cfg) == ["make it red", "a red heart"]
    assert generativeai["configure"] == {"api_key": SECRET, "transport": "rest"}
    assert generativeai["model"] == "gemini-test" and generativeai["kw"]["request_options"] == {"timeout": 7}


def test_gemini_timeout_blocked_and_errors_are_clear_and_keyless(generativeai):
    from google.api_core import exceptions as gexc

    generativeai["raise"] = gexc.DeadlineExceeded(f"deadline with key={SECRET}")
    with pytest.raises(EnhancementError, match="did not answer within 30 s") as e:
        create_provider("gemini").generate(ctx(), 5, AppConfig())
    assert SECRET not in str(e.value)
    generativeai["raise"] = RuntimeError(f"boom {SECRET}")
    with pytest.raises(EnhancementError, match="Gemini request failed") as e:
        create_provider("gemini").generate(ctx(), 5, AppConfig())
    assert SECRET not in str(e.value) and "original query is kept" in str(e.value)
    generativeai["raise"], generativeai["answer"] = None, None
    with pytest.raises(EnhancementError, match="blocked"):
        create_provider("gemini").generate(ctx(), 5, AppConfig())


def test_gemini_through_google_genai_when_installed(monkeypatch):
    """The google-genai path, with a fake ``google.genai`` module (the package is optional)."""
    import types as pytypes

    calls = {}

    class Client:
        def __init__(self, api_key, http_options):
            calls.update(key=api_key, timeout_ms=http_options.timeout)
            self.models = self

        def generate_content(self, model, contents, config):
            calls.update(model=model, prompt=contents, system=config.system_instruction)
            return pytypes.SimpleNamespace(text='["make it red", "a red heart"]')

    genai = pytypes.ModuleType("google.genai")
    genai.Client = Client
    gtypes = pytypes.ModuleType("google.genai.types")
    gtypes.HttpOptions = lambda timeout: pytypes.SimpleNamespace(timeout=timeout)
    gtypes.GenerateContentConfig = lambda **kw: pytypes.SimpleNamespace(**kw)
    monkeypatch.setitem(sys.modules, "google.genai", genai)
    monkeypatch.setitem(sys.modules, "google.genai.types", gtypes)
    monkeypatch.setattr(gemini_mod, "client_package", lambda: "google.genai")
    monkeypatch.setenv("GOOGLE_API_KEY", SECRET)
    got = create_provider("gemini").generate(ctx(), 5, cfg_with(timeout_s=12, gemini_model="gemini-x"))
    assert got == ["make it red", "a red heart"]
    assert calls["key"] == SECRET and calls["timeout_ms"] == 12000 and calls["model"] == "gemini-x" and calls["system"]


# --------------------------------------------------------------------------- registry
def test_registry_lists_and_resolves(monkeypatch):
    infos = {p.name: p for p in list_providers(AppConfig())}
    assert list(infos) == ["gemini", "openai", "offline"]
    assert infos["offline"].available and not infos["gemini"].available and "GOOGLE_API_KEY" in infos["gemini"].reason
    assert resolve_provider(AppConfig()).name == "offline"  # auto, fresh clone: no keys
    assert resolve_provider(cfg_with(openai_base_url="http://127.0.0.1:9/v1")).name == "openai"
    with pytest.raises(EnhancementError, match="GOOGLE_API_KEY"):
        resolve_provider(cfg_with(provider="gemini"))
    with pytest.raises(EnhancementError, match="available: gemini, openai, offline"):
        create_provider("nope")
    monkeypatch.setenv("GEMINI_API_KEY", "x")
    monkeypatch.setattr(gemini_mod, "client_package", lambda: "google.generativeai")
    assert resolve_provider(AppConfig()).name == "gemini"
    monkeypatch.setattr(gemini_mod, "client_package", lambda: None)  # a key but no client package
    assert resolve_provider(AppConfig()).name == "offline"


def test_importing_enhance_pulls_in_no_client_or_ui_package():
    code = (
        "import sys; import infocir.enhance as e; e.list_providers(__import__('infocir.config').config.AppConfig()); "
        "bad = [m for m in ('dash', 'google.generativeai', 'google.genai') if m in sys.modules]; print(bad)"
    )
    src = str(Path(__file__).resolve().parents[1] / "cir_app" / "src")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": src}, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stderr


# --------------------------------------------------------------------------- offline generator (pure)
def test_offline_generator_is_deterministic_distinct_and_uses_the_change():
    c = ctx(
        attributes_known=True,
        shared_attributes={"colour": "red", "shape": "heart"},
        changed_attributes={"colour": "red", "shape": "heart"},
        reference_attributes={
            "shape": "star",
            "colour": "blue",
            "size": "small",
            "background": "plain",
            "style": "filled",
        },
    )
    a, b = generate_offline(c, 10), generate_offline(c, 10)
    assert a == b and len(a) == 10 and len({x.lower() for x in a}) == 10 and "change it" not in a
    assert all("red" in x or "heart" in x for x in a)
    assert any("red" in x and "heart" in x for x in a)  # a combination of both changes
    generic = generate_offline(
        ctx(
            ideal_words=(VocabWord("arrow", "class", 0.3), VocabWord("orange", "colour", 0.1)),
            ideal_classes=(("arrow", 2),),
        ),
        6,
    )
    assert generic[0] == "make it an arrow" and any("orange" in g for g in generic)


def test_offline_generator_refines_the_original_words():
    c = ctx(
        original_text="change the colour",
        attributes_known=True,
        shared_attributes={"colour": "red"},
        changed_attributes={"colour": "red"},
        reference_attributes={"colour": "blue"},
    )
    assert "change the colour to red" in generate_offline(c, 10)


# --------------------------------------------------------------------------- scoring rule (constructed)
def _row(text, ndcg, ap, cov, mr, sim=0.5, base=False):
    return PromptRow(
        text,
        base,
        {"ndcg": ndcg, "map": ap, "mrr": ap, "coverage": cov, "mean_rank": mr, "mean_similarity": sim},
        [],
        [],
    )


def test_ranking_rule_and_best_per_column():
    rows = [
        _row("orig", 0.5, 0.4, 0.5, 6.0, base=True),
        _row("a", 0.8, 0.5, 0.5, 4.0),
        _row("b", 0.8, 0.7, 0.5, 5.0),
        _row("c", 0.8, 0.7, 1.0, 5.0, sim=0.9),
        _row("d", 0.8, 0.7, 1.0, 3.0),
        _row("e", 0.5, 0.4, 0.5, 6.0),
    ]
    assert rank_rows(rows) == [4, 3, 2, 1, 0, 5]  # nDCG, then mAP, then coverage, then mean rank; ties keep order
    best = best_per_column(rows)
    assert best["ndcg"] == [1, 2, 3, 4] and best["map"] == [2, 3, 4] and best["coverage"] == [3, 4]
    assert best["mean_rank"] == [4] and best["mean_similarity"] == [3]
    res = EnhancementResult(rows, rank_rows(rows), best, 10, "searle", ["x"])
    assert res.best_candidate.text == "d"
    assert EnhancementResult.from_dict(json.loads(json.dumps(res.to_dict()))).to_dict() == res.to_dict()


# --------------------------------------------------------------------------- with the demo engine
@pytest.fixture(scope="module")
def demo(demo_world_engine):
    engine, root = demo_world_engine
    return root, engine


@needs_demo
def test_context_names_what_the_ideals_share(demo):
    root, engine = demo
    q = vague_query_benchmark(root, 5)[1]
    c = build_context(engine, q.reference_id, q.text, q.ideals)
    assert c.attributes_known and q.attribute in c.changed_attributes
    assert c.changed_attributes[q.attribute] == q.new_value and c.reference_class == q.reference_id.split("/")[0]
    assert c.n_ideals == len(q.ideals) and c.ideal_captions and c.ideal_words
    json.dumps(c.to_dict())
    with pytest.raises(EnhancementError, match="ideal"):
        build_context(engine, q.reference_id, q.text, ["not/an_id.png"])


@needs_demo
@pytest.mark.slow  # seconds of real computation; still in the default run
def test_offline_improves_map_on_vague_demo_queries(demo):
    root, engine = demo
    queries = vague_query_benchmark(root, 30)
    assert len(queries) == 30 and all(
        q.text in ("change it", "make it different", "a different one", "something else", "modify it", "change this")
        or q.text.startswith("change the ")
        for q in queries
    )
    r = evaluate_offline(engine, queries, k=10)
    # measured on this world (seed 5, searle, demo model): 0.10 → 1.00 (gain 0.90), every query improved
    assert r["map_original"] < 0.3
    assert r["map_best"] - r["map_original"] >= 0.5 and r["map_best"] >= 0.7
    assert r["improved_fraction"] >= 0.8


@needs_demo
def test_offline_vocabulary_path_works_without_attributes(demo):
    """The general path (class names + vocabulary words matched to image features), attributes hidden."""
    root, engine = demo
    before, after = [], []
    for q in vague_query_benchmark(root, 15):
        c = dataclasses.replace(
            build_context(engine, q.reference_id, q.text, q.ideals),
            attributes_known=False,
            shared_attributes={},
            changed_attributes={},
            reference_attributes={},
        )
        res = score_prompts(engine, q.reference_id, q.text, generate_offline(c, 10), q.ideals, k=10)
        before.append(res.baseline.metrics["map"])
        after.append(res.best_candidate.metrics["map"])
    # measured: 0.10 → 0.98
    assert sum(after) / len(after) - sum(before) / len(before) >= 0.5


@needs_demo
def test_baseline_row_equals_a_plain_search_and_progress_is_reported(demo, monkeypatch):
    root, engine = demo
    q = vague_query_benchmark(root, 3)[2]
    encoded = []
    real = engine.encode_text
    monkeypatch.setattr(engine, "encode_text", lambda texts: (encoded.append(list(texts)), real(texts))[1])
    ticks = []
    res = enhance(
        engine, q.reference_id, q.text, q.ideals, k=12, method="average", progress=lambda d, t: ticks.append((d, t))
    )
    plain = engine.search(q.reference_id, q.text, k=12, method="average")
    base = res.rows[0]
    assert base.is_baseline and base.text == q.text and base.ids == plain.ids
    sims = {i: float(plain.all_scores[engine.index.row_of[i]]) for i in q.ideals}
    assert base.metrics == pytest.approx(prompt_metrics(plain.ids, list(q.ideals), 12, sims))
    n = len(res.rows)
    assert n == 1 + engine.config.enhancement.candidate_prompts and ticks[-1] == (n, n) and len(ticks) == n
    assert [r.text for r in res.rows] in encoded  # every text encoded in one batch before the searches
    assert res.provider == "offline" and res.k == 12 and res.method == "average" and len(base.ids) == 12
    assert sorted(res.order) == list(range(n)) and res.best_candidate is not None
    assert len(json.dumps(res.to_dict())) < 20000


@needs_demo
def test_llm_failure_through_enhance_keeps_the_original(demo, server):
    from infocir.engine import RetrievalEngine

    root, engine = demo
    cfg = dataclasses.replace(engine.config, enhancement=server_cfg(server).enhancement)
    eng = RetrievalEngine(cfg, engine.bundle, engine.scan, engine.index)
    q = vague_query_benchmark(root, 1)[0]
    res = enhance(eng, q.reference_id, q.text, q.ideals, k=10, provider="openai")
    assert res.provider == "openai" and [r.text for r in res.rows[1:]] == [
        "make it red",
        "turn it into a heart",
        "a red heart",
    ]
    server.mode = "malformed"
    with pytest.raises(EnhancementError, match="original query is kept"):
        enhance(eng, q.reference_id, q.text, q.ideals, k=10, provider="openai")
