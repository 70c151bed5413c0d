"""Serving the dashboard: which server, on which address, for whom.

* ``ui.server = "waitress"`` (the default) serves the app with waitress, a production WSGI server
  (``ui.threads`` requests at once); ``"dev"`` keeps Werkzeug's development server.  ``ui.debug = true``
  needs the development server (Dash's dev tools) and is refused on any host that is not loopback:
  Werkzeug's interactive debugger runs whatever Python a visitor types.
* A host other than loopback (``0.0.0.0``, ``::``, a LAN address or name) is logged as a warning that
  names the address, and the banner prints the address actually bound.
* ``ui.token`` (or ``CIR_UI_TOKEN``) puts every request behind an access token: ``?token=…`` on the
  first visit sets an HttpOnly cookie and redirects to the same page without the token; a request
  without the cookie (or ``Authorization: Bearer …``) gets HTTP 401 and a short page saying how to get
  in.  Tokens are compared with :func:`hmac.compare_digest` and never logged.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import html
import ipaddress
import logging
import re
import socket
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infocir.config import ConfigError
from infocir.errors import UserError
from infocir.redaction import redact

if TYPE_CHECKING:
    from dash import Dash

    from infocir.config import AppConfig

log = logging.getLogger(__name__)

COOKIE = "infocir_token"
TOKEN_PARAM = "token"
MIN_TOKEN_CHARS = 8
ALL_INTERFACES = ("0.0.0.0", "::")
_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s\"']*")
TOKEN_HINT = 'python -c "import secrets; print(secrets.token_urlsafe(16))"'


class ServeError(UserError, RuntimeError):
    """The server cannot start (port in use, an address this machine does not have)."""


# --------------------------------------------------------------------------- addresses
def is_loopback(host: str) -> bool:
    """True when ``host`` only reaches this machine (127.0.0.0/8, ::1, localhost and names that resolve
    only to those).  An empty host, ``0.0.0.0`` and ``::`` bind every interface: not loopback."""
    h = host.strip().strip("[]")
    if not h:
        return False
    if h.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(h.split("%")[0]).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(h, None)
    except (socket.gaierror, UnicodeError, OSError):
        return False
    addrs = {info[4][0].split("%")[0] for info in infos}
    return bool(addrs) and all(ipaddress.ip_address(a).is_loopback for a in addrs)


def url_for(host: str, port: int) -> str:
    h = host.strip("[]")
    return f"http://[{h}]:{port}" if ":" in h else f"http://{h}:{port}"


def describe_bind(host: str) -> str:
    """What binding ``host`` means, for the banner and the warning."""
    if host.strip("[]") in ALL_INTERFACES:
        return "all network interfaces: other machines can reach it"
    if is_loopback(host):
        return "loopback: this machine only"
    return "a network interface: other machines can reach it"


# --------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class ServePlan:
    """How ``serve`` will run, decided from the config alone (nothing is bound or started)."""

    server: str  # "waitress" | "dev"
    host: str
    port: int
    threads: int
    debug: bool
    exposed: bool  # bound to more than loopback
    token_required: bool
    notes: tuple[str, ...] = ()
    max_body_bytes: int = 0


def check_token(token: str) -> None:
    """A usable token or a ConfigError that does not repeat it."""
    if not token:
        return
    if any(c.isspace() or not c.isprintable() for c in token):
        raise ConfigError(
            "ui.token holds spaces or control characters (a stray newline from a file?); "
            f"use e.g. letters, digits, - and _, as {TOKEN_HINT} prints"
        )
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"ui.token is shorter than {MIN_TOKEN_CHARS} characters and easy to guess; make one with {TOKEN_HINT}"
        )


def plan_server(cfg: AppConfig) -> ServePlan:
    """Choose the server and check the exposure rules; ConfigError (exit 2) when they are broken."""
    ui = cfg.ui
    host = ui.host.strip()
    if host.startswith("[") and host.endswith("]"):  # "[::]" as written in URLs
        host = host[1:-1]
    if not host:
        raise ConfigError("ui.host is empty: use 127.0.0.1 (this machine only) or 0.0.0.0 (all network interfaces)")
    loopback = is_loopback(host)
    if ui.debug and not loopback:
        raise ConfigError(
            f"ui.debug=true is refused on host {host} ({describe_bind(host)}): the debug server includes "
            "Werkzeug's interactive debugger, which runs any Python code a visitor types. "
            "Debug on --host 127.0.0.1, or set ui.debug=false to serve on this host."
        )
    check_token(ui.token)
    notes = []
    server = ui.server
    if ui.debug and server != "dev":
        server = "dev"
        notes.append("ui.debug=true: serving with the development server (Werkzeug) for Dash's dev tools")
    if server == "dev" and not loopback:
        notes.append(
            "ui.server=dev on a host other than loopback: Werkzeug's development server is not made "
            "for other people's traffic; the default ui.server=waitress is"
        )
    # Uploads travel base64-encoded (4/3) inside callback bodies, sometimes more than once per request.
    max_body = int((64 + 6 * ui.max_upload_mb) * 2**20)
    return ServePlan(
        server=server,
        host=host,
        port=ui.port,
        threads=ui.threads,
        debug=ui.debug,
        exposed=not loopback,
        token_required=bool(ui.token),
        notes=tuple(notes),
        max_body_bytes=max_body,
    )


def exposure_warning(plan: ServePlan, host: str | None = None, port: int | None = None) -> str | None:
    """The warning logged when the server is reachable from other machines (None on loopback)."""
    if not plan.exposed:
        return None
    host, port = host or plan.host, port or plan.port
    access = (
        "every request needs the access token (ui.token)"
        if plan.token_required
        else "anyone who can reach this address can use the dashboard and read the dataset's images; "
        "set CIR_UI_TOKEN (ui.token) to require an access token"
    )
    return f"InfoCIR is exposed on {host}:{port} ({describe_bind(host)}): {access}"


def banner(plan: ServePlan, host: str, port: int) -> str:
    """The lines printed at start: the address really bound and who can reach it."""
    lines = [f"  InfoCIR dashboard bound to {host}:{port} ({describe_bind(host)})"]
    if host.strip("[]") in ALL_INTERFACES:
        here = url_for("127.0.0.1" if host == "0.0.0.0" else "::1", port)
        lines.append(
            f"  open {here} on this machine, http://{socket.gethostname()}:{port} (or its address) from others"
        )
    else:
        lines.append(f"  open {url_for(host, port)}")
    if plan.token_required:
        lines.append("  access token required: add ?token=<your ui.token> to the address on the first visit")
    served_by = f"waitress, {plan.threads} threads" if plan.server == "waitress" else "Werkzeug development server"
    lines.append(f"  server: {served_by}")
    return "\n" + "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the access token
_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>InfoCIR: access token needed</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}}</style></head>
<body><h1>Access token needed</h1><p>{why}</p><p>This InfoCIR dashboard is shared with an access token.
Open the link you were given (it ends in <code>?token=&hellip;</code>), or ask the person running it for the token
and add <code>?token=YOUR_TOKEN</code> to this address. The token is then kept in a cookie for this site.</p>
</body></html>"""


class TokenGate:
    """WSGI middleware: every request (pages, Dash callbacks, /media, assets) needs the token."""

    def __init__(self, app: Callable, token: str):
        check_token(token)
        self.app = app
        self._token = token.encode("utf-8")
        # The cookie holds a value derived from the token, not the token itself.
        self._cookie = hmac.new(self._token, b"infocir-ui-cookie-v1", hashlib.sha256).hexdigest().encode()

    def _matches(self, given: str | None, expected: bytes) -> bool:
        return given is not None and hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        query = urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        given = [v for k, v in query if k == TOKEN_PARAM]
        if given:
            if not all(self._matches(v, self._token) for v in given):
                return self._deny(start_response, "The token in this address is not the right one.")
            cookie = self._set_cookie(environ)
            if environ.get("REQUEST_METHOD", "GET") in ("GET", "HEAD"):
                rest = urllib.parse.urlencode([(k, v) for k, v in query if k != TOKEN_PARAM])
                return self._redirect(start_response, environ, rest, cookie)
            return self.app(environ, self._adding(start_response, cookie))
        if self._matches(self._cookie_value(environ), self._cookie):
            return self.app(environ, start_response)
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if auth[:7].lower() == "bearer " and self._matches(auth[7:].strip(), self._token):
            return self.app(environ, start_response)
        return self._deny(start_response, "This address needs an access token.")

    @staticmethod
    def _cookie_value(environ: dict[str, Any]) -> str | None:
        from werkzeug.http import parse_cookie

        return parse_cookie(environ.get("HTTP_COOKIE", "")).get(COOKIE)

    def _set_cookie(self, environ: dict[str, Any]) -> str:
        from werkzeug.http import dump_cookie

        secure = environ.get("wsgi.url_scheme") == "https"
        # Lax, not Strict: the first visit usually follows a link from another site (chat, mail).
        return dump_cookie(COOKIE, self._cookie.decode(), path="/", httponly=True, samesite="Lax", secure=secure)

    @staticmethod
    def _adding(start_response: Callable, cookie: str) -> Callable:
        def start(status, headers, exc_info=None):
            return start_response(status, [*headers, ("Set-Cookie", cookie)], exc_info)

        return start

    @staticmethod
    def _redirect(start_response: Callable, environ: dict[str, Any], rest: str, cookie: str) -> list[bytes]:
        # WSGI hands the path over decoded as latin-1: back to the raw bytes, then percent-encoded
        path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "/")).encode("latin-1", "replace")
        # one leading slash only: "//evil.example" would send the visitor to another site
        location = "/" + urllib.parse.quote(path.lstrip(b"/\\"), safe="/:@!$&'()*+,;=-._~")
        if rest:
            location += "?" + rest
        start_response(
            "303 See Other",
            [
                ("Location", location),
                ("Set-Cookie", cookie),
                ("Cache-Control", "no-store"),
                ("Referrer-Policy", "no-referrer"),
                ("Content-Length", "0"),
            ],
        )
        return [b""]

    @staticmethod
    def _deny(start_response: Callable, why: str) -> list[bytes]:
        body = _PAGE.format(why=html.escape(why)).encode()
        start_response(
            "401 Unauthorized",
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                ("WWW-Authenticate", 'Bearer realm="InfoCIR"'),
            ],
        )
        return [body]


class TokenLogFilter(logging.Filter):
    """Masks the token (and any ``?token=`` value) in log records: Werkzeug logs every request line."""

    def __init__(self, token: str):
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a broken record is not ours to fix
            return True
        clean = _TOKEN_IN_QUERY.sub(r"\1***", redact(text, self._token) if self._token else text)
        if clean != text:
            record.msg, record.args = clean, ()
        return True


def install_token(app: Dash, token: str) -> None:
    """Put ``app`` behind ``token`` (no-op for an empty token) and keep it out of the logs."""
    if not token:
        return
    app.server.wsgi_app = TokenGate(app.server.wsgi_app, token)
    filt = TokenLogFilter(token)
    targets = [logging.getLogger(n) for n in ("werkzeug", "waitress", "waitress.queue", "infocir")]
    for target in targets + list(logging.getLogger().handlers):
        if not any(isinstance(f, TokenLogFilter) and f._token == token for f in target.filters):
            target.addFilter(filt)


# --------------------------------------------------------------------------- starting it
def check_bindable(host: str, port: int) -> None:
    """Fail early, with a message, when ``host:port`` cannot be listened on (before the engine loads)."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise ServeError(
            f"ui.host {host!r} is not an address or a name this machine can resolve ({exc}); use 127.0.0.1 or 0.0.0.0"
        ) from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            s.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServeError(
                    f"port {port} on {host} is in use (another InfoCIR or another program); choose another with --port"
                ) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ServeError(f"{host} is not an address of this machine; use 127.0.0.1 or 0.0.0.0") from None
            if exc.errno == errno.EACCES:
                raise ServeError(
                    f"no permission to listen on port {port} (ports below 1024 need root); choose another with --port"
                ) from None
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def make_runner(app: Dash, plan: ServePlan) -> tuple[Callable[[], Any], str, int, Any]:
    """(run, bound host, bound port, server object).  For waitress the socket is bound here and ``run``
    blocks serving; for the development server ``run`` is Dash's ``app.run`` and the object is None."""
    if plan.server == "waitress":
        from waitress import create_server

        try:
            server = create_server(
                app.server,
                host=plan.host,
                port=plan.port,
                threads=plan.threads,
                ident="InfoCIR",
                max_request_body_size=plan.max_body_bytes,
                clear_untrusted_proxy_headers=True,
            )
        except OSError as exc:
            raise ServeError(f"cannot listen on {plan.host}:{plan.port}: {exc.strerror or exc}") from None
        listen = getattr(server, "effective_listen", None) or [(server.effective_host, server.effective_port)]
        host, port = listen[0][0], int(listen[0][1])
        return server.run, host, port, server

    def run() -> None:
        app.run(host=plan.host, port=plan.port, debug=plan.debug, threaded=True)

    return run, plan.host, plan.port, None
