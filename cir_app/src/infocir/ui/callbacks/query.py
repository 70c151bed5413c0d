"""Panel A: the reference (dataset pick or upload), the text, k, the method, and the search.

An upload is checked once, kept on the server under its content key (``Services.uploads``) and
named in the page by that key only: no callback receives the image again.  Picking a dataset image
(the dropdown, ↺ in the gallery, a map click) or "✕ remove upload" replaces it as the reference.
The dropdown holds only a few ids at a time: what is typed in it is searched here, on the server."""

from __future__ import annotations

from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from infocir.errors import UserError
from infocir.index.id_search import reference_options
from infocir.methods.registry import fallback_method_name
from infocir.ui import ids, polling
from infocir.ui.media import media_url
from infocir.ui.method_settings import SettingError, SettingSpec, parse_settings, settings_for
from infocir.ui.query_state import encode_vector, page_reference, same_reference, selection_key
from infocir.ui.services import Services, takes_relevant, user_message
from infocir.ui.uploads import UploadError, decode_upload, register_upload_route, upload_url

SHOWN, HIDDEN = {}, {"display": "none"}


def register(app: Dash, s: Services) -> None:
    register_upload_route(app.server, s.uploads, s.config.ui.max_upload_pixels)
    register_upload(app, s)
    register_reference(app, s)
    register_search(app, s)
    register_mode(app)
    register_selection_scope(app)


def register_upload(app: Dash, s: Services) -> None:
    cfg = s.config

    @app.callback(
        Output(ids.REF_MODE, "data"),
        Output(ids.UPLOAD_REF, "data"),
        Output(ids.UPLOAD_MESSAGE, "children"),
        Output(ids.REFERENCE, "value", allow_duplicate=True),
        Output(ids.UPLOAD, "contents"),
        Input(ids.UPLOAD, "contents"),
        State(ids.UPLOAD, "filename"),
        State(ids.REFERENCE, "value"),
        State(ids.UPLOAD_REF, "data"),
        prevent_initial_call=True,
    )
    def _on_upload(contents, filename, current, upload):
        if not contents:  # the component was emptied below: nothing new
            return (no_update,) * 5
        try:
            data = decode_upload(contents, filename, cfg.ui.max_upload_mb, cfg.ui.max_upload_pixels)
        except UploadError as exc:  # the reference stays what it was
            return no_update, no_update, str(exc), no_update, None
        key = s.uploads.put(data)
        previous = current or (upload or {}).get("previous")
        # The dropdown is emptied while the upload is the reference: it shows no id that is not used, and
        # picking any id (even the one shown before) is a change that makes it the reference again.
        # The component's contents are emptied too: the data URI is not kept in the page.
        return "upload", {"key": key, "name": filename, "previous": previous}, "", None, None

    # The file input keeps the last file chosen, and choosing the same file again fires no change: empty
    # it once the upload is read, so that the photo removed a minute ago can be taken again.
    app.clientside_callback(
        f"""function(contents) {{
            const input = document.querySelector('#{ids.UPLOAD} input[type=file]');
            if (input) {{ input.value = ''; }}
            return window.dash_clientside.no_update;
        }}""",
        Output(ids.UPLOAD_MESSAGE, "title"),
        Input(ids.UPLOAD, "contents"),
        prevent_initial_call=True,
    )


def register_reference(app: Dash, s: Services) -> None:
    index = s.engine.index
    cap = s.config.ui.reference_options

    @app.callback(
        Output(ids.REFERENCE, "options"),
        Input(ids.REFERENCE, "search_value"),
        Input(ids.REFERENCE, "value"),
    )
    def _reference_options(search, value):
        """The picker's options: at most ``cap`` ids containing what is typed (the first ids when nothing
        is), and always the reference itself: a dropdown drops a value its options lack.  Whatever sets the
        reference (a link, the gallery's ↺, the map's card) thus gets it listed here too."""
        return reference_options(s.id_search, search, cap, value)

    @app.callback(
        Output(ids.REF_MODE, "data", allow_duplicate=True),
        Output(ids.UPLOAD_REF, "data", allow_duplicate=True),
        Input(ids.REFERENCE, "value"),
        prevent_initial_call=True,
    )
    def _on_pick(value):
        if not value:  # emptied by an upload
            return no_update, no_update
        return "dataset", None

    @app.callback(
        Output(ids.REF_MODE, "data", allow_duplicate=True),
        Output(ids.UPLOAD_REF, "data", allow_duplicate=True),
        Output(ids.REFERENCE, "value", allow_duplicate=True),
        Output(ids.UPLOAD_MESSAGE, "children", allow_duplicate=True),
        Input(ids.UPLOAD_REMOVE, "n_clicks"),
        State(ids.UPLOAD_REF, "data"),
        State(ids.REFERENCE, "value"),
        prevent_initial_call=True,
    )
    def _remove_upload(n, upload, current):
        if not n:
            return (no_update,) * 4
        back = current or (upload or {}).get("previous")
        return "dataset", None, back if back in index.row_of else index.ids[0], ""

    @app.callback(
        Output(ids.REFERENCE_PREVIEW, "src"),
        Output(ids.REFERENCE_CAPTION, "children"),
        Output(ids.UPLOAD_REMOVE, "style"),
        Input(ids.REF_MODE, "data"),
        Input(ids.REFERENCE, "value"),
        Input(ids.UPLOAD_REF, "data"),
    )
    def _preview(mode, ref, upload):
        shown = page_reference(mode, ref, upload)
        if shown["kind"] == "upload":
            return upload_url(shown["key"]), f"uploaded: {shown['name']}", SHOWN
        if shown["kind"] == "dataset":
            row = index.row_of.get(ref)
            cls = index.classes[row] if row is not None else ""
            return media_url(ref), f"{ref} · {cls}", HIDDEN
        return "", "no reference", HIDDEN

    @app.callback(
        Output(ids.REF_PENDING, "children"),
        Input(ids.REF_MODE, "data"),
        Input(ids.REFERENCE, "value"),
        Input(ids.UPLOAD_REF, "data"),
        Input(ids.RESULTS_STORE, "data"),
        Input(ids.QUERY_MODE, "value"),
    )
    def _pending(mode, ref, upload, results, query_mode):
        """Say so while the results shown are not those of the reference panel A shows."""
        shown = {"kind": "none"} if query_mode == "text" else page_reference(mode, ref, upload)
        if not results or same_reference(shown, results.get("reference")):
            return ""
        return "Not searched yet: the results below are for the previous reference. Press Search."


def setting_control(spec: SettingSpec):
    """The box of one method setting (pure)."""
    sid = {"type": ids.SETTING, "key": spec.key}
    if spec.kind in ("int", "float"):
        control = dcc.Input(
            id=sid, type="number", value=spec.default, min=spec.lo, max=spec.hi, step=1 if spec.kind == "int" else "any"
        )
    elif spec.kind == "choice":
        control = dcc.Dropdown(
            id=sid, options=list(spec.choices), value=spec.default, clearable=False, searchable=False
        )
    elif spec.kind == "multi":
        control = dcc.Checklist(
            id=sid, options=list(spec.choices), value=list(spec.default), inline=True, className="setting-multi"
        )
    elif spec.kind == "floats":
        control = dcc.Input(
            id=sid, type="text", value=", ".join(f"{w:g}" for w in spec.default), className="text-input"
        )
    else:  # bool
        control = dcc.Checklist(id=sid, options=[{"label": " on", "value": "on"}], value=["on"] if spec.default else [])
    return html.Div(
        [html.Span(spec.label, className="setting-label"), control],
        className=f"setting setting-{spec.kind}",
        title=spec.help,
    )


def register_search(app: Dash, s: Services) -> None:
    available = [m.name for m in s.engine.methods() if m.available]
    fallback = fallback_method_name(s.engine.context)  # what stands in for an unavailable configured method

    @app.callback(
        Output({"type": ids.SETTING, "key": ALL}, "value"),
        Input({"type": ids.SETTING, "key": ALL}, "value"),
        State({"type": ids.SETTING, "key": ALL}, "id"),
        prevent_initial_call=True,
    )
    def _weights_follow_members(values, keys):
        """Fusion: ticking or unticking a member gives the weights box one weight (1) per member ticked."""
        names = [i["key"] for i in keys]
        if not ctx.triggered_id or ctx.triggered_id.get("key") != "param.methods" or "param.weights" not in names:
            return [no_update] * len(names)
        members = values[names.index("param.methods")] or []
        return [", ".join("1" for _ in members) if n == "param.weights" else no_update for n in names]

    @app.callback(Output(ids.METHOD_SETTINGS, "children"), Input(ids.METHOD, "value"))
    def _settings_form(method):
        try:
            specs = settings_for(method or s.config.retrieval.method, s.config, available, fallback)
        except Exception as exc:  # an unknown method: the search says so
            return html.P(user_message(exc, "Method settings"), className="muted")
        if not specs:
            return html.P("This method has no settings.", className="muted")
        return [setting_control(spec) for spec in specs] + [
            html.P(
                "Values left as they are use the configuration; the search records what you change.", className="muted"
            )
        ]

    @app.callback(
        Output(ids.RESULTS_STORE, "data"),
        Output(ids.BROWSE_STORE, "data"),
        Output(ids.HIGHLIGHT_STORE, "data", allow_duplicate=True),
        Output(ids.QUERY_VECTOR, "data"),
        Output(ids.MESSAGE, "children"),
        Output(ids.FB_HISTORY, "data"),
        Output(ids.SLOW_JOB, "data"),
        Output(ids.SLOW_POLL, "disabled"),
        Input(ids.SEARCH, "n_clicks"),
        Input(ids.TEXT, "n_submit"),
        State(ids.REF_MODE, "data"),
        State(ids.REFERENCE, "value"),
        State(ids.UPLOAD_REF, "data"),
        State(ids.TEXT, "value"),
        State(ids.K, "value"),
        State(ids.METHOD, "value"),
        State(ids.EXCLUDE_REF, "value"),
        State(ids.IDEALS_STORE, "data"),
        State(ids.BACKEND, "value"),
        State({"type": ids.SETTING, "key": ALL}, "value"),
        State({"type": ids.SETTING, "key": ALL}, "id"),
        State(ids.SESSION, "data"),
        State(ids.SLOW_JOB, "data"),
        State(ids.QUERY_MODE, "value"),
        State(ids.EXPANSION, "value"),
        State(ids.SEARCH_SELECTION, "value"),
        State(ids.BROWSE_STORE, "data"),
        prevent_initial_call=True,
    )
    def _search(
        _clicks,
        _submit,
        mode,
        ref,
        upload,
        text,
        k,
        method,
        exclude,
        ideals,
        backend,
        values,
        keys,
        session,
        slow,
        query_mode,
        expansion,
        only_selected,
        browse,
    ):
        backend = None if backend in (None, "", "configured") else backend
        if k is None or int(k) != k or not 1 <= int(k) <= 100:
            return message_only("k must be a whole number from 1 to 100.")
        ref_info = page_reference(mode, ref, upload)
        exclude = "exclude" in (exclude or [])
        try:
            ref_info, text, method, values, keys = mode_query(query_mode, ref_info, text, method, values, keys)
        except ValueError as exc:
            return message_only(str(exc))
        name = method or s.config.retrieval.method
        try:
            specs = settings_for(name, s.config, available, fallback)
            params, settings = parse_settings(specs, {i["key"]: v for i, v in zip(keys, values, strict=True)})
        except SettingError as exc:
            return message_only(f"Method settings: {exc}")
        except Exception as exc:
            return message_only(user_message(exc, "Search"))
        feedback = takes_relevant(name)
        query = {"reference": ref_info, "text": text or "", "method": method, "k": int(k), "exclude_reference": exclude}
        if query_mode in ("text", "image"):
            query["mode"] = query_mode
        if ("on" in (expansion or [])) != s.config.retrieval.expansion:  # recorded only where it differs
            query["expansion"] = "on" in (expansion or [])
        allowed = within_selection(s, query, only_selected, browse)
        plan = {
            "query": query,
            "relevant": list(ideals or []) if feedback else [],
            "backend": backend,
            "params": params,
            "settings": settings,
        }
        if is_slow(name):
            # OTI optimises a token per new reference (seconds): a job with progress and Cancel, not a frozen page
            job = submit_slow_search(s, plan, session, (slow or {}).get("job"), allowed)
            wait = f"{METHOD_LABEL.get(method, method)}: queued…"
            return (no_update,) * 4 + (wait, no_update, {**plan, "job": job}, False)
        try:
            res = run_plan(s, plan, allowed=allowed)
        except Exception as exc:
            return no_update, no_update, no_update, no_update, user_message(exc, "Search"), no_update, None, True
        data, kept, done = finished_search(s, plan, res)
        # One response sets the results, ends a map browse and clears the highlight (the gallery, the histogram
        # and the map each render once per search), and starts a new feedback history: its step 0.  A search within
        # the selection keeps it (B shows the results searched within it; A's box stays ticked for the next one).
        return data, ended_browse(plan), None, kept, done, new_history(data, kept), None, True

    register_slow_search(app, s)


METHOD_LABEL = {"oti": "OTI"}


def within_selection(s: Services, query: dict, only_selected: list | None, browse: dict | None):
    """The ``allowed`` mask of a search restricted to the map selection (A's box ticked and a selection held;
    else None); the query records it as "within" (B: "Top k of the N selected images")."""
    allowed = s.selection_mask(browse) if "on" in (only_selected or []) else None
    if allowed is not None:
        query["within"] = {"count": int(allowed.sum()), "selection": selection_key(browse)}
    return allowed


def ended_browse(plan: dict):
    """What a finished search leaves in ``ids.BROWSE_STORE``: nothing (the browse ends), or the selection itself
    when the search was restricted to it."""
    return no_update if plan["query"].get("within") else None


def register_selection_scope(app: Dash) -> None:
    @app.callback(
        Output(ids.SEARCH_SELECTION, "options"),
        Output(ids.SEARCH_SELECTION, "value"),
        Output(ids.SEARCH_SELECTION_NOTE, "children"),
        Output(ids.CLEAR_SELECTION, "style"),
        Input(ids.BROWSE_STORE, "data"),
    )
    def _scope(browse):
        """A's "search only the selected images": enabled, with their count, while the map holds a selection;
        without one it is unticked and disabled (a restriction never outlives its selection)."""
        return selection_scope(browse)

    @app.callback(
        Output(ids.BROWSE_STORE, "data", allow_duplicate=True),
        Input(ids.CLEAR_SELECTION, "n_clicks"),
        prevent_initial_call=True,
    )
    def _clear_selection(n):
        return None if n else no_update


def selection_scope(browse: dict | None) -> tuple:
    """The box's options, value, note and the "clear selection" button's style for a map selection (pure)."""
    n = len((browse or {}).get("rows") or []) or int((browse or {}).get("count") or 0)
    if not selection_key(browse) or not n:
        option = {"label": " search only the images selected on the map", "value": "on", "disabled": True}
        return [option], [], "Select images on the map (lasso or box) to search only them.", HIDDEN
    label = f" search only the {n:,} image{'s'[: n != 1]} selected on the map"
    return [{"label": label, "value": "on"}], no_update, "", SHOWN


def message_only(sentence: str) -> tuple:
    """``_search``'s answer when it does not search: a sentence in A, every other output left as it is."""
    return (no_update,) * 4 + (sentence,) + (no_update,) * 3


def new_history(data: dict, kept: dict) -> dict:
    """The feedback history a new search starts (``ids.FB_HISTORY``): the search itself, as step 0."""
    return {"steps": [{"results": data, "vector": kept}], "at": 0}


MODE_METHOD = {"text": "text", "image": "image"}  # the method a first-class mode searches with


def mode_query(query_mode: str | None, ref_info: dict, text: str | None, method, values, keys):
    """Panel A's query in a mode: text → images drops the reference, image → images the text; both search with
    their own method and no method settings.  ValueError with a sentence when the mode's input is missing."""
    if query_mode == "text":
        if not (text or "").strip():
            raise ValueError("Text → images: type what to search for.")
        return {"kind": "none"}, text, MODE_METHOD["text"], [], []
    if query_mode == "image":
        if ref_info.get("kind") == "none":
            raise ValueError("Image → images: pick or upload a reference image.")
        return ref_info, "", MODE_METHOD["image"], [], []
    return ref_info, text, method, values, keys


def register_mode(app: Dash) -> None:
    @app.callback(
        Output(ids.REFERENCE_BLOCK, "style"),
        Output(ids.TEXT_BLOCK, "style"),
        Output(ids.TEXT_LABEL, "children"),
        Output(ids.TEXT, "placeholder"),
        Output(ids.METHOD_BLOCK, "style"),
        Output(ids.METHOD_SETTINGS_BOX, "style"),
        Output(ids.EXCLUDE_REF, "style"),
        Input(ids.QUERY_MODE, "value"),
        prevent_initial_call=True,  # the layout starts in the composed mode, everything shown
    )
    def _mode_view(mode):
        """What panel A shows in a mode: text → images hides the reference, image → images the text; both hide
        the method (the mode is its method)."""
        hidden = {"display": "none"}
        if mode == "text":
            return hidden, SHOWN, "Text query", 'e.g. "a small red star"', hidden, hidden, hidden
        if mode == "image":
            return SHOWN, hidden, "Modification text", "", hidden, hidden, SHOWN
        return SHOWN, SHOWN, "Modification text", 'e.g. "make it red"', SHOWN, SHOWN, SHOWN


def is_slow(method: str) -> bool:
    from infocir.methods.registry import METHODS

    return bool(getattr(METHODS.get(method), "slow", False))


def run_plan(s: Services, plan: dict, progress=None, allowed=None):
    """The search a plan describes (``_search`` makes it): panel A's query with its marks, index and settings;
    ``allowed``: the map selection it is restricted to (``Services.selection_mask``), when the plan says "within"."""
    q = plan["query"]
    params = dict(plan["params"] or {})
    if progress is not None:
        params["progress"] = progress
    return s.search(
        q["reference"],
        q["text"],
        q["k"],
        q["method"],
        q["exclude_reference"],
        plan["relevant"],
        plan["backend"],
        params,
        plan["settings"],
        q.get("expansion"),
        allowed,
    )


def finished_search(s: Services, plan: dict, res) -> tuple[dict, dict, str]:
    """The results store, the kept vector and panel A's sentence of a finished search."""
    data, kept = results_store(
        s, res, plan["query"], plan["relevant"], plan["backend"], plan["params"], plan["settings"]
    )
    backend, params, settings, relevant = plan["backend"], plan["params"], plan["settings"], plan["relevant"]
    done = f"{len(res.ids)} results in {res.elapsed_ms:.0f} ms" + (f" from the {backend} index" if backend else "")
    within = plan["query"].get("within")
    if within:
        done += f", only among the {within['count']:,} images selected on the map"
    if params or settings:
        done += " with " + ", ".join(f"{k}={v}" for k, v in {**params, **settings}.items())
    if plan["query"].get("expansion", s.config.retrieval.expansion):
        how = (res.composition.extras or {}).get("expansion") if res.composition is not None else None
        if isinstance(how, dict) and not how.get("applied", True):
            done += f"; not expanded: {how.get('reason', 'this method composes no single query vector')}"
        else:
            done += "; expanded with captions (an image counts once, with its best score)"
    if takes_relevant(plan["query"]["method"] or s.config.retrieval.method):
        done += (
            f"; the query moved toward the {len(relevant)} image(s) marked ideal"
            if relevant
            else "; mark ideals in B (or D), then search again: relevance feedback moves the query toward them"
        )
    return data, kept, done


class SearchCancelled(UserError):
    """The user pressed Cancel while a slow search ran."""


def submit_slow_search(s: Services, plan: dict, session: str | None, replaces: str | None, allowed=None) -> str:
    """Run a slow search as a job of the page: it reports OTI's steps in the job's progress and stops at the next
    step once the job is cancelled (Cancel, or a newer search of the same page)."""
    progress: dict = {}
    holder: dict = {}

    def report(step: int, total: int) -> None:
        progress.update(done=step, total=total)
        job = holder.get("job")
        if job is not None and job.cancelled:
            raise SearchCancelled("Search cancelled; the results shown are the previous search's.")

    job_id = s.submit_for(
        session, "slow-search", [("search", lambda: run_plan(s, plan, report, allowed))], replaces, progress
    )
    holder["job"] = s.jobs.get(job_id)
    return job_id


def register_slow_search(app: Dash, s: Services) -> None:
    polling.register_gate(app, ids.SLOW_POLL)

    @app.callback(
        Output(ids.RESULTS_STORE, "data", allow_duplicate=True),
        Output(ids.BROWSE_STORE, "data", allow_duplicate=True),
        Output(ids.HIGHLIGHT_STORE, "data", allow_duplicate=True),
        Output(ids.QUERY_VECTOR, "data", allow_duplicate=True),
        Output(ids.MESSAGE, "children", allow_duplicate=True),
        Output(ids.FB_HISTORY, "data", allow_duplicate=True),
        Output(ids.SLOW_JOB, "data", allow_duplicate=True),
        Output(ids.SLOW_POLL, "disabled", allow_duplicate=True),
        Output(polling.answered(ids.SLOW_POLL), "data"),
        Input(polling.tick(ids.SLOW_POLL), "data"),
        State(ids.SLOW_JOB, "data"),
        prevent_initial_call=True,
    )
    def _poll(tick, slow):
        skip = (no_update,) * 4
        job = s.jobs.get((slow or {}).get("job"))
        if job is None:
            return *skip, "", no_update, None, True, tick
        name = METHOD_LABEL.get(slow["query"]["method"], slow["query"]["method"])
        if not job.finished:
            p = job.progress
            text = (
                f"{name}: optimising the pseudo-word for this reference, step {p['done']}/{p['total']}…"
                if p.get("total")
                else f"{name}: queued behind other work…"
                if not job.done and not p
                else f"{name}: searching…"
            )
            return *skip, text, no_update, no_update, False, tick
        if "search" in job.errors:
            return *skip, job.errors["search"], no_update, None, True, tick
        data, kept, done = finished_search(s, slow, job.results["search"])
        history = new_history(data, kept)
        return data, ended_browse(slow), None, kept, done, history, None, True, tick

    @app.callback(Output(ids.SLOW_CANCEL, "style"), Input(ids.SLOW_JOB, "data"), prevent_initial_call=True)
    def _cancel_shown(slow):
        return {} if slow else {"display": "none"}

    @app.callback(
        Output(ids.MESSAGE, "children", allow_duplicate=True),
        Input(ids.SLOW_CANCEL, "n_clicks"),
        State(ids.SLOW_JOB, "data"),
        prevent_initial_call=True,
    )
    def _cancel(n, slow):
        if not n or not slow:
            return no_update
        s.jobs.cancel(slow.get("job"))
        return "Cancelling…"


def results_store(
    s: Services,
    res,
    query: dict,
    relevant: list[str],
    backend: str | None,
    method_params: dict | None = None,
    settings: dict | None = None,
) -> tuple[dict, dict]:
    """The results store of a search (``query``: reference, text, method, k, exclude_reference as the page
    asked) and the composed vector kept beside it.  Panel A's search and B's feedback steps both write it."""
    data = {
        "ids": res.ids,
        "rows": res.rows.tolist(),
        "scores": [round(float(x), 5) for x in res.scores],
        "classes": res.classes,
        **query,
        "elapsed_ms": round(res.elapsed_ms, 1),
    }
    if relevant:  # relevance feedback moved the query toward these (F3 and E rank their texts the same way)
        data["relevant"] = relevant
    if backend:  # another search index than retrieval.backend answered the top k
        data["backend"] = backend
    if method_params:  # a feedback step's base method and rounds, A's method settings: F3 and E rank like it
        data["method_params"] = method_params
    if settings:  # per-query values of the methods' configuration sections (BASIC's λ, ...)
        data["settings"] = settings
    if s.maps.map is not None:
        # two 2-D points: the map redraws for highlights and ideals without recomposing the query
        data["ref_xy"], data["query_xy"] = s.placements(data, res.query_vector)
    # The composed vector is kept beside the results (panel F and a late map use it instead of composing the
    # query again), not inside them: the results go to a dozen callbacks per search, the vector to two.
    return data, {"vector": encode_vector(res.query_vector)}
