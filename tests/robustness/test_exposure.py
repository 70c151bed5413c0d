"""Issue 16, items 12 and 13: keys never reach the page or the log; a dashboard on an exposed port is
served by waitress, says where it is bound, refuses the debugger and can require an access token."""

from __future__ import annotations

import base64
import json
import logging
import re
import socket

import pytest

from infocir.config import AppConfig, ConfigError, apply_overrides, load_config
from infocir.enhance import EnhancementError, VisualContext, create_provider
from infocir.enhance import gemini as gemini_mod
from infocir.redaction import redact, redact_cut, split_credentials
from infocir.ui import server as S

KEY = "sk-test-secret-4242-abcdefghijklmnop"
PASSWORD = "hunter2-Pa55word"
TOKEN = "demo-token-7f3a9c21"
KEY_VARS = ("GOOGLE_API_KEY", "GEMINI_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL", "CIR_UI_TOKEN")


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    for v in KEY_VARS:
        monkeypatch.delenv(v, raising=False)


def ctx() -> VisualContext:
    return VisualContext(original_text="change it", n_ideals=1, reference_class="star", ideal_classes=(("heart", 1),))


def cfg(**overrides) -> AppConfig:
    return apply_overrides(AppConfig(), overrides)


def leaked(text: str, secret: str, n: int = 6) -> bool:
    """True when any ``n`` consecutive characters of ``secret`` appear in ``text``."""
    return any(secret[i : i + n] in text for i in range(len(secret) - n + 1))


# --------------------------------------------------------------------------- a hostile OpenAI-compatible server
def echo_modes(srv) -> dict:
    """Answers that echo the Authorization header back in every way a hostile server could."""
    Reply = srv.Reply

    def echoing(reply):  # a POST gets reply(auth); a GET (nothing should send one) gets 404
        return lambda req: Reply(404) if req["method"] == "GET" else reply(req["auth"])

    return {
        "ok": echoing(lambda auth: srv.chat("1. make it red\n2. a red heart")),
        # the header echoed where a cut at 200 characters falls inside it
        "echo401": echoing(
            lambda auth: Reply(401, json.dumps({"error": {"message": "x" * 150 + f" header was: {auth}"}}).encode())
        ),
        # a 200 answer with an error object holding the header
        "echo200": echoing(
            lambda auth: Reply(200, json.dumps({"error": {"message": f"invalid Authorization: {auth}"}}).encode())
        ),
        # the key alone, JSON-escaped, in a plain-text body
        "echo_raw": echoing(
            lambda auth: Reply(500, f"upstream rejected key {auth.split()[-1] if auth else ''}".encode())
        ),
        # urllib would follow it with the Authorization header
        "redirect": echoing(lambda auth: Reply(302, b"", {"Location": "/elsewhere"})),
    }


@pytest.fixture
def echo(stub_server):
    stub_server.modes, stub_server.mode = echo_modes(stub_server), "ok"
    return stub_server


def openai_cfg(url: str) -> AppConfig:
    return cfg(**{"enhancement.openai_base_url": url, "enhancement.openai_model": "m", "enhancement.timeout_s": 2})


# --------------------------------------------------------------------------- keys
@pytest.mark.parametrize("mode", ["echo401", "echo200", "echo_raw"])
def test_openai_error_bodies_echoing_the_key_are_redacted(echo, monkeypatch, mode):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    echo.mode = mode
    with pytest.raises(EnhancementError) as e:
        create_provider("openai").generate(ctx(), 2, openai_cfg(echo.url()))
    msg = str(e.value)
    assert not leaked(msg, KEY), msg
    assert "original query is kept" in msg and "***" in msg


def test_a_redirect_is_not_followed_with_the_key(echo, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    echo.mode = "redirect"
    with pytest.raises(EnhancementError, match="HTTP 302.*redirects.*final address") as e:
        create_provider("openai").generate(ctx(), 2, openai_cfg(echo.url()))
    assert [r["path"] for r in echo.requests] == ["/v1/chat/completions"] and not leaked(str(e.value), KEY)


def test_url_credentials_become_basic_auth_and_never_show(echo):
    user, password = "demo user", "p@ss:" + PASSWORD  # both need percent-encoding in a URL
    quoted = f"{'demo%20user'}:{'p%40ss%3A' + PASSWORD}@"
    got = create_provider("openai").generate(ctx(), 2, openai_cfg(echo.url(quoted)))
    assert got == ["make it red", "a red heart"]
    req = echo.requests[-1]
    assert req["path"] == "/v1/chat/completions"
    assert req["auth"] == "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    echo.mode = "echo401"
    with pytest.raises(EnhancementError, match="HTTP 401") as e:
        create_provider("openai").generate(ctx(), 2, openai_cfg(echo.url(quoted)))
    msg = str(e.value)
    assert not leaked(msg, PASSWORD) and "dXNlcj" not in msg and f"127.0.0.1:{echo.server_address[1]}/v1" in msg


def test_url_credentials_with_an_api_key_are_refused_clearly(echo, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    c = openai_cfg(echo.url(f"bob:{PASSWORD}@"))
    ok, why = create_provider("openai").available(c)
    assert not ok and "OPENAI_API_KEY" in why
    with pytest.raises(EnhancementError, match="Authorization header.*remove the credentials") as e:
        create_provider("openai").generate(ctx(), 2, c)
    assert not leaked(str(e.value), PASSWORD) and not leaked(str(e.value), KEY) and not echo.requests


@pytest.mark.parametrize(
    "url",
    [
        "http://bob:{pw}@127.0.0.1:{port}/v1",  # nothing listens there
        "ftp://bob:{pw}@example.org/v1",
        "bob:{pw}@localhost:8080/v1",  # no scheme
        "http://bob:{pw}@/v1",  # no host
    ],
)
def test_bad_urls_with_a_password_give_clear_messages_without_it(url):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(EnhancementError, match="openai_base_url|OpenAI-compatible server") as e:
        create_provider("openai").generate(ctx(), 2, openai_cfg(url.format(pw=PASSWORD, port=port)))
    assert not leaked(str(e.value), PASSWORD), str(e.value)


def test_gemini_error_cut_inside_the_key_leaks_nothing(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)

    def failing(self, prompt, key, cfg):
        raise RuntimeError("y" * 170 + f" while calling ?key={key}")  # the old [:200] cut fell inside the key

    monkeypatch.setattr(gemini_mod.GeminiProvider, "call", failing)
    with pytest.raises(EnhancementError, match="Gemini request failed") as e:
        create_provider("gemini").generate(ctx(), 2, AppConfig())
    assert not leaked(str(e.value), KEY), str(e.value)


def test_redact_masks_every_form_a_secret_takes():
    cases = {
        f"Bearer {KEY}": KEY,
        json.dumps({"auth": f"Bearer {KEY}"}): KEY,
        f"key={KEY[:14]} (truncated echo)": KEY,  # a prefix only
        "https://bob:" + PASSWORD + "@h/v1": PASSWORD,
        "https://bob:p%40ss" + PASSWORD + "@h/v1": PASSWORD,
        "Authorization: Basic " + base64.b64encode(f"bob:{PASSWORD}".encode()).decode(): "Ym9iOmh1",
        "GET /x?api_key=" + PASSWORD + "&v=1": PASSWORD,
        "Authorization: " + PASSWORD: PASSWORD,
        "AIzaSyA" + "B" * 32: "AIzaSyA" + "B" * 32,
    }
    for text, secret in cases.items():
        out = redact(text, KEY if secret == KEY else None)
        assert secret[:8] not in out, (text, out)
    assert redact("basic authentication failed for model gpt-4o") == "basic authentication failed for model gpt-4o"
    assert redact("pwd pw", "pw") == "pwd ***"  # short secrets: whole words only
    cut = redact_cut("z" * 195 + KEY, 200, KEY)
    assert not leaked(cut, KEY) and len(cut) <= 201
    assert split_credentials("https://u%3Ax:p%40@h:8443/v1?q=1") == ("https://h:8443/v1?q=1", ("u:x", "p@"))
    assert split_credentials("http://127.0.0.1:8080/v1") == ("http://127.0.0.1:8080/v1", None)


# --------------------------------------------------------------------------- exposure: the plan
def test_serve_plans_waitress_on_loopback_by_default():
    plan = S.plan_server(AppConfig())
    assert (plan.server, plan.host, plan.port, plan.exposed, plan.token_required) == (
        "waitress",
        "127.0.0.1",
        8051,
        False,
        False,
    )
    assert S.exposure_warning(plan) is None
    assert S.plan_server(cfg(**{"ui.server": "dev"})).server == "dev"
    with pytest.raises(ConfigError, match="allowed values: waitress, dev"):
        cfg(**{"ui.server": "gunicorn"})


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "[::]"])
def test_debug_is_refused_on_a_host_that_is_not_loopback(host):
    with pytest.raises(ConfigError, match="ui.debug=true is refused.*interactive debugger.*127.0.0.1"):
        S.plan_server(cfg(**{"ui.host": host, "ui.debug": "true"}))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_debug_on_loopback_uses_the_development_server(host):
    plan = S.plan_server(cfg(**{"ui.host": host, "ui.debug": "true"}))
    assert plan.server == "dev" and not plan.exposed and any("development server" in n for n in plan.notes)


def test_cli_refuses_debug_on_all_interfaces_with_exit_2_before_loading_anything(capsys, monkeypatch):
    from infocir import cli

    monkeypatch.setattr("infocir.engine.RetrievalEngine.from_config", lambda *a, **k: pytest.fail("engine loaded"))
    assert cli.main(["serve", "--host", "0.0.0.0", "--set", "ui.debug=true"]) == 2
    err = capsys.readouterr().err
    assert "ui.debug=true is refused on host 0.0.0.0" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "bad, words",
    [
        ("abc12", "shorter than 8"),
        ("has space-in-it", "spaces or control"),
        ("trailing-newline\n", "spaces or control"),
    ],
)
def test_unusable_tokens_are_refused_without_repeating_them(bad, words):
    with pytest.raises(ConfigError, match=words) as e:
        S.plan_server(cfg(**{"ui.token": bad}))
    assert bad.strip() not in str(e.value)


def test_token_from_the_environment_and_never_in_repr():
    c = load_config(environ={"CIR_UI_TOKEN": TOKEN})
    assert c.ui.token == TOKEN and TOKEN not in repr(c) and TOKEN not in repr(c.ui)


def test_empty_host_and_unbindable_addresses_get_messages():
    with pytest.raises(ConfigError, match="ui.host is empty"):
        S.plan_server(cfg(**{"ui.host": " "}))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(S.ServeError, match="in use.*--port"):
            S.check_bindable("127.0.0.1", busy.getsockname()[1])
    with pytest.raises(S.ServeError, match="not an address of this machine"):
        S.check_bindable("192.0.2.10", 8051)  # TEST-NET-1: never assigned here
    with pytest.raises(S.ServeError, match="cannot resolve|not an address"):
        S.check_bindable("no-such-host.invalid", 8051)


# --------------------------------------------------------------------------- exposure: serving
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_runner_builds_a_waitress_server_without_blocking():
    import dataclasses

    from dash import Dash, html
    from waitress.server import BaseWSGIServer

    app = Dash(__name__)
    app.layout = html.Div("x")
    plan = dataclasses.replace(S.plan_server(AppConfig()), port=_free_port())
    run, host, port, server = S.make_runner(app, plan)
    try:
        assert isinstance(server, BaseWSGIServer) and (host, port) == ("127.0.0.1", plan.port)
        assert server.adj.threads == 8 and server.adj.ident == "InfoCIR"
        assert run == server.run
    finally:
        server.close()


def test_serve_on_all_interfaces_warns_and_prints_the_real_address(monkeypatch, capsys, caplog):
    """``serve`` end to end with the engine stubbed and ``run`` not blocking."""
    from dash import Dash, html

    from infocir.ui import app as app_mod

    port = _free_port()
    monkeypatch.setattr(app_mod.RetrievalEngine, "from_config", staticmethod(lambda c: object()))

    def tiny_app(engine, c):
        a = Dash(__name__)
        a.layout = html.Div("x")
        S.install_token(a, c.ui.token)
        return a

    monkeypatch.setattr(app_mod, "create_app", tiny_app)
    built = {}

    def runner(app, plan):
        run, host, p, server = S.make_runner(app, plan)
        built.update(plan=plan, server=server)
        return (lambda: server.close()), host, p, server

    monkeypatch.setattr(app_mod, "make_runner", runner)
    c = cfg(**{"ui.host": "0.0.0.0", "ui.port": port, "ui.token": TOKEN})
    with caplog.at_level(logging.INFO):
        assert app_mod.serve(c) == 0
    out = capsys.readouterr().out
    assert built["plan"].server == "waitress" and built["plan"].exposed
    assert f"bound to 0.0.0.0:{port} (all network interfaces" in out and "localhost" not in out
    assert f"open http://127.0.0.1:{port} on this machine" in out
    assert "access token required" in out
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"exposed on 0.0.0.0:{port}" in w for w in warnings), warnings
    assert TOKEN not in out and TOKEN not in caplog.text


# --------------------------------------------------------------------------- exposure: the token, on the real app
@pytest.fixture(scope="module")
def token_app(tmp_path_factory):
    from conftest import make_image_folder, tiny_config
    from infocir.engine import RetrievalEngine
    from infocir.ui.app import create_app

    tmp = tmp_path_factory.mktemp("token")
    data = make_image_folder(tmp / "data", per_class=2)
    c = tiny_config(
        data,
        tmp / "cache",
        **{"ui.token": TOKEN, "umap.n_epochs": "10", "umap.n_neighbors": "3", "umap.pca_components": "0"},
    )
    engine = RetrievalEngine.from_config(c, progress=False)
    return create_app(engine, c), engine


def _paths(engine) -> list[str]:
    image_id = engine.index.ids[0]
    return [
        "/",
        "/_dash-layout",
        "/_dash-dependencies",
        f"/media/256/{image_id}",
        "/assets/style.css",
        "/_dash-component-suites/dash/dcc/dash_core_components.js",
        "/nope",
    ]


def test_every_request_needs_the_token(token_app):
    app, engine = token_app
    client = app.server.test_client()
    for path in _paths(engine):
        r = client.get(path)
        assert r.status_code == 401, path
        assert b"?token=" in r.data and TOKEN.encode() not in r.data
    r = client.post("/_dash-update-component", json={"output": "x", "outputs": [], "inputs": [], "state": []})
    assert r.status_code == 401
    r = client.get("/?token=wrong-token-123")
    assert r.status_code == 401 and b"not the right one" in r.data and "Set-Cookie" not in r.headers


def test_token_in_the_address_sets_an_httponly_cookie_and_opens_everything(token_app, caplog):
    app, engine = token_app
    client = app.server.test_client()
    with caplog.at_level(logging.DEBUG):
        r = client.get(f"/?token={TOKEN}&x=1")
    assert r.status_code == 303 and r.headers["Location"] == "/?x=1"
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith(f"{S.COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert TOKEN not in cookie and TOKEN not in caplog.text
    assert client.get("/").status_code == 200  # the test client keeps the cookie
    assert client.get("/_dash-layout").status_code == 200
    assert client.get(_paths(engine)[3]).status_code == 200  # /media
    other = app.server.test_client()  # a second visitor without the cookie
    assert other.get("/").status_code == 401
    assert other.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    other.set_cookie(S.COOKIE, "forged-value")
    assert other.get("/_dash-layout").status_code == 401


def test_token_redirect_cannot_leave_the_site(token_app):
    app, _ = token_app
    client = app.server.test_client()
    for path in ("//evil.example/", "/\\evil.example/"):
        r = client.get(f"{path}?token={TOKEN}")
        assert r.status_code == 303 and re.match(r"^/(?![/\\])", r.headers["Location"]), r.headers["Location"]


def test_the_token_is_masked_in_request_log_lines():
    rec = logging.LogRecord(
        "werkzeug", logging.INFO, __file__, 1, '127.0.0.1 - - "GET /?token=%s&x=1 HTTP/1.1" 303 -', (TOKEN,), None
    )
    S.TokenLogFilter(TOKEN).filter(rec)
    assert TOKEN not in rec.getMessage() and "token=***" in rec.getMessage()
