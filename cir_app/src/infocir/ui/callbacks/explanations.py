"""Panel F: saliency maps of the reference and of the top-k candidates (F1), token attribution
of the prompt (F2) and the rank-Δ heatmap against other prompts (F3).

Maps are computed in a background job for what is on screen (the reference and the shown
candidate) and cached per (model, explainer, image, query); the page polls the job."""

from __future__ import annotations

from dash import Dash, Input, Output, State, ctx, no_update

from infocir.explain.base import list_explainers
from infocir.explain.image import MOSTLY_AGAINST
from infocir.explain.rank_delta import largest_changes, rank_delta_table
from infocir.explain.render import heat_uri
from infocir.explain.service import fallback_query_vector
from infocir.methods.registry import create_method
from infocir.ui import ids, polling
from infocir.ui.figures import empty_figure, rank_delta_figure, token_figure
from infocir.ui.media import media_url
from infocir.ui.query_state import base_results, results_vector, search_key, with_vector
from infocir.ui.services import Services, user_message
from infocir.ui.uploads import upload_url

NO_HEAT = ""
LABELS = {c.name: c.label for c in list_explainers()}
PREFETCH = 2  # candidates after the shown one whose maps are computed ahead
PREFETCH_STEP = "prefetch:"
FALLBACK_NOTE = "this method has no single query vector, maps use the average of reference and text; "
ZOOM_JS = r"""
function(refClicks, candClicks, closeClicks, refImg, refHeat, refCap, candImg, candHeat, candCap, style) {
    const nu = window.dash_clientside.no_update;
    const trig = ((window.dash_clientside.callback_context || {}).triggered || []).map(t => t.prop_id);
    const focus = (id) => setTimeout(() => { const el = document.getElementById(id); if (el) { el.focus(); } }, 60);
    if (trig.some(t => t.startsWith('explain-zoom-close'))) {
        if (window.infocirZoomFrom) { focus(window.infocirZoomFrom); }
        return [{display: 'none'}, nu, nu, nu];
    }
    const clicked = trig.find(t => t.startsWith('explain-ref-overlay') || t.startsWith('explain-cand-overlay'));
    let ref;
    if (clicked) {
        ref = clicked.startsWith('explain-ref-overlay');
    } else if (style && style.display && style.display !== 'none') {
        // the explanation under the open view changed (its map arrived, another candidate, another
        // explainer): show the new one
        ref = window.infocirZoomFrom === 'explain-ref-overlay';
    } else {
        return [nu, nu, nu, nu];
    }
    const img = ref ? refImg : candImg;
    if (!img) { return [nu, nu, nu, nu]; }
    if (clicked) {
        window.infocirZoomFrom = ref ? 'explain-ref-overlay' : 'explain-cand-overlay';
        focus('explain-zoom-close');
    }
    const big = img.startsWith('/media/') ? img.replace(/^\/media\/\d+\//, '/media/512/') : img;
    return [clicked ? {display: 'flex'} : nu, big, (ref ? refHeat : candHeat) || '', (ref ? refCap : candCap) || ''];
}
"""
# ◀ ▶ in the browser: each click moves from the index the page shows now.  (On the server, clicks faster
# than the answers were lost: the browser keeps only the newest answer of a callback, and each request
# had read the same old index.)
PAGER_JS = """
function(results, prev, next, index) {
    const n = ((results || {}).ids || []).length;
    const trig = ((window.dash_clientside.callback_context || {}).triggered || []).map(t => t.prop_id);
    if (!n || trig.some(t => t.startsWith('%s'))) { return [0, true, n <= 1]; }
    const step = trig.some(t => t.startsWith('%s')) ? -1 : 1;
    const now = Math.min(Math.max(0, (index || 0) + step), n - 1);  // the ends disable the buttons: no wrap
    return [now, now === 0, now === n - 1];
}
""".replace("%s", ids.RESULTS_STORE, 1).replace("%s", ids.F_PREV, 1)


def method_only(params: dict) -> dict:
    """The method's own parameters of ``Services.ranking_params`` (the reference map builds the method from them;
    per-query configuration settings are not parameters, and a map they change falls back, saying so)."""
    return {k: v for k, v in params.items() if k not in ("settings", "expansion")}


def _steps(
    s: Services,
    results: dict,
    reference,
    index: int,
    explainer: str,
    token_method: str,
    ref_view: str = "candidate",
    segment: bool = False,
) -> list:
    """The job for one view of panel F: compose the query once, then only what is shown (with ``segment``,
    the region of the shown candidate that the query text refers to)."""
    sal = s.config.saliency
    text, method = results.get("text", ""), results.get("method")
    params = s.ranking_params(results)  # a feedback step's marks and rounds: the query is that step's
    cand = results["ids"][index]
    state: dict = {}

    def query_vector():
        vector = results_vector(results)  # the search's own vector, kept with the results
        if vector is None and "query_vector" not in results:
            vector = s.engine.compose(reference, text, method, **params).query_vector
        state["vector"] = vector if vector is not None else fallback_query_vector(s.engine, reference, text)
        return "composed" if vector is not None else "fallback"

    steps = [("query", query_vector)]
    if sal.generate_reference and reference is not None:
        steps.append(
            (
                "ref",
                lambda: s.explanations.reference_saliency(
                    method,
                    reference,
                    text,
                    cand,
                    explainer,
                    ref_view,
                    vector=state["vector"],
                    params=method_only(params),
                ),
            )
        )
    limit = sal.max_candidates if sal.max_candidates is not None else len(results["ids"])
    if sal.generate_candidates and index < limit:
        steps.append(("cand", lambda: s.explanations.saliency(state["vector"], explainer, image_id=cand)))
    if segment and text.strip():
        steps.append(("seg", lambda: s.explanations.segment(text, image_id=cand)))
    # Word scores only where the method reads the text ("image" ignores it).
    if sal.generate_text_attribution and text.strip() and create_method(method or s.config.retrieval.method).needs_text:
        steps.append(("tokens", lambda: s.explanations.tokens(method, reference, text, cand, token_method)))
    if sal.generate_candidates:
        # Warm the cache for the next candidates, so "next ▶" shows its map at once.
        for j in range(index + 1, min(index + 1 + PREFETCH, limit, len(results["ids"]))):
            nxt = results["ids"][j]
            steps.append(
                (
                    f"{PREFETCH_STEP}{j}",
                    lambda nxt=nxt: s.explanations.saliency(state["vector"], explainer, image_id=nxt) and None,
                )
            )
            if sal.generate_reference and reference is not None and ref_view == "candidate":
                steps.append(
                    (
                        f"{PREFETCH_STEP}ref{j}",
                        lambda nxt=nxt: (
                            s.explanations.reference_saliency(
                                method,
                                reference,
                                text,
                                nxt,
                                explainer,
                                ref_view,
                                vector=state["vector"],
                                params=method_only(params),
                            )
                            and None
                        ),
                    )
                )
    return steps


def save_maps(s: Services, results: dict, reference, index: int, explainer: str, ref_view: str) -> list:
    """Write the shown reference and candidate maps (PNG over the image + the .npy patch grid) to
    ``saliency.output_dir``; maps come from the explanation cache when panel F already made them."""
    from pathlib import Path

    from infocir.explain.render import save_saliency

    text, method = results.get("text", ""), results.get("method")
    params = s.ranking_params(results)
    cand = results["ids"][index]
    vector = results_vector(results)
    if vector is None and "query_vector" not in results:
        vector = s.engine.compose(reference, text, method, **params).query_vector
    vector = vector if vector is not None else fallback_query_vector(s.engine, reference, text)
    out = Path(s.config.saliency.output_dir)
    tag = f"{method}-{explainer}-rank{index + 1:03d}"
    written = save_saliency(
        s.explanations.saliency(vector, explainer, image_id=cand),
        s.engine.reference_image(cand),
        out,
        f"{tag}-candidate-{cand}",
    )
    if reference is not None:
        ref_sal = s.explanations.reference_saliency(
            method, reference, text, cand, explainer, ref_view, vector=vector, params=method_only(params)
        )
        name = reference if isinstance(reference, str) else "upload"
        written += save_saliency(
            ref_sal, s.engine.reference_image(reference), out, f"{tag}-reference-{ref_view}-{name}"
        )
    return written


def _cand_caption(results: dict, index: int, score: float | None = None) -> str:
    name = results["ids"][index].rsplit("/", 1)[-1]
    sim = f" · sim {score:.3f}" if score is not None else ""
    return f"rank {index + 1}/{len(results['ids'])} · {name} · {results['classes'][index]}{sim}"


def _evidence_note(saliency, evidence: str = "for") -> str:
    """Caption text for the side of the evidence shown: a blank "raises" map is not read as 'no answer yet',
    and a map whose evidence mostly lowers the score says so (its published map is the small remainder)."""
    label = LABELS.get(saliency.explainer, saliency.explainer)
    share = saliency.against_share
    if evidence in ("against", "both"):
        if share is None:
            return f" · {label} has no signed map: showing what raises the score"
        if evidence == "both":
            return f" · warm raises the score, blue lowers it: {_percent(share)} of the map's evidence lowers it"
        if share == 0:
            return " · nothing in this image lowers the score"
        return f" · showing what lowers the score: {_percent(share)} of the map's evidence"
    if saliency.empty:
        return f" · empty map: no patch raises this score for {label}" + (" (choose “lowers”)" if share else "")
    if share is not None and share > MOSTLY_AGAINST:
        return (
            f" · {_percent(share)} of the map's evidence lowers the score: shown is the {_percent(1 - share)} "
            "that raises it (choose “lowers”)"
        )
    return ""


def _percent(share: float) -> str:
    """A share as a whole percentage; a small non-zero share is not rounded away to "0 %"."""
    return "under 1 %" if 0 < share < 0.005 else f"{100 * share:.0f} %"


def _visible(job) -> tuple[list[str], dict[str, str]]:
    """The job's on-screen steps (not prefetching) and their errors."""
    names = [n for n, _ in job.steps if not n.startswith(PREFETCH_STEP)]
    return names, {n: e for n, e in job.errors.items() if n in names}


def render_poll(sal, job, r: dict, finished: bool, sent: set, results, index, evidence: str = "for") -> tuple:
    """The panel's outputs for a snapshot of the job; maps and word bars are sent only once.  ``evidence``:
    which side of the maps to show (``explain.render.EVIDENCE``).  The last item is the candidate's
    text-region outline (``NO_HEAT`` when the job has none)."""
    from infocir.explain.render import png_data_uri
    from infocir.explain.segmentation import outline_rgba

    visible, errors = _visible(job)
    shown_done = finished or all(n in r or n in errors for n in visible)
    ref, cand, tok, seg = r.get("ref"), r.get("cand"), r.get("tokens"), r.get("seg")
    ref_caption = (
        f"reference · {LABELS.get(ref.explainer, ref.explainer)} of {ref.target} ({ref.score:.3f}) · "
        f"{ref.seconds:.2f} s{_evidence_note(ref, evidence)}"
        if ref
        else ("reference maps are off (saliency.generate_reference)" if not sal.generate_reference else "")
    )
    if tok is not None:
        fig = token_figure(tok.words, tok.scores, tok.is_template) if "tokens" not in sent else no_update
        note = f"“{tok.prompt}” vs the shown candidate · {tok.seconds * 1000:.0f} ms"
    else:
        fig = empty_figure(
            errors.get("tokens") or ("Computing…" if not shown_done else "No words to attribute for this query.")
        )
        note = ""
    status = [f"{v}" for v in errors.values()]
    if not shown_done:
        status.insert(0, f"Computing explanations… {sum(n in r or n in errors for n in visible)}/{len(visible)}")
    elif not errors:
        fallback = r.get("query") == "fallback"
        status = [f"Done: {FALLBACK_NOTE if fallback else ''}{len(visible) - 1} explanation(s) ready."]

    def heat(name: str, x):
        if x is None:
            return NO_HEAT
        return no_update if name in sent else heat_uri(x, evidence)

    cand_caption = no_update
    if cand is not None and results and results.get("ids"):
        cand_caption = _cand_caption(results, min(index or 0, len(results["ids"]) - 1), cand.score)
        cand_caption += _evidence_note(cand, evidence)
        if seg is not None:
            cand_caption += f" · outlined: “{seg.text}”, {100 * seg.area:.0f} % of the image ({seg.provider})"
    mask = NO_HEAT if seg is None else (no_update if "seg" in sent else png_data_uri(outline_rgba(seg.mask)))
    return (
        heat("ref", ref),
        ref_caption,
        heat("cand", cand),
        cand_caption,
        fig,
        note,
        " ".join(status),
        finished,
        mask,
    )


def register(app: Dash, s: Services) -> None:
    app.clientside_callback(
        PAGER_JS,
        Output(ids.F_INDEX, "data"),
        Output(ids.F_PREV, "disabled"),
        Output(ids.F_NEXT, "disabled"),
        Input(ids.RESULTS_STORE, "data"),
        Input(ids.F_PREV, "n_clicks"),
        Input(ids.F_NEXT, "n_clicks"),
        State(ids.F_INDEX, "data"),
        prevent_initial_call=True,
    )
    # a random id per page: the server cancels the jobs of answers the page dropped (Services.claim)
    app.clientside_callback(
        "function(_) { return Math.random().toString(36).slice(2) + Date.now().toString(36); }",
        Output(ids.SESSION, "data"),
        Input(ids.URL, "pathname"),
    )
    register_f1(app, s)
    register_evidence(app)
    polling.register_gate(app, ids.F_POLL)
    register_zoom(app)
    register_f3(app, s)


def register_f1(app: Dash, s: Services) -> None:
    sal = s.config.saliency

    @app.callback(
        Output(ids.F_JOB, "data"),
        Output(ids.F_POLL, "disabled"),
        Output(ids.F_STATUS, "children"),
        Output(ids.F_REF_IMG, "src"),
        Output(ids.F_CAND_IMG, "src"),
        Output(ids.F_CAND_CAPTION, "children"),
        Input(ids.F_INDEX, "data"),
        Input(ids.F_EXPLAINER, "value"),
        Input(ids.F_TOKEN_METHOD, "value"),
        Input(ids.F_REF_VIEW, "value"),
        Input(ids.F_SEGMENT, "value"),
        State(ids.RESULTS_STORE, "data"),
        State(ids.QUERY_VECTOR, "data"),
        State(ids.F_JOB, "data"),
        State(ids.SESSION, "data"),
        prevent_initial_call=True,
    )
    def _start(index, explainer, token_method, ref_view, segment, results, kept, old_job, session):
        if not results or not results.get("ids"):
            return None, True, "Run a search to explain its results.", "", "", ""
        index = min(index or 0, len(results["ids"]) - 1)
        cand = results["ids"][index]
        shown = results.get("reference") or {}
        caption = _cand_caption(results, index)
        try:
            ref = s.reference_from(results)  # an upload is read from the server's store, by its key
        except Exception as exc:
            return None, True, user_message(exc, "Explanations"), "", media_url(cand), caption
        ref_src = upload_url(shown["key"]) if shown.get("kind") == "upload" else (media_url(ref) if ref else "")
        if not sal.enabled:
            return (
                None,
                True,
                "Explanations are switched off (saliency.enabled = false).",
                ref_src,
                media_url(cand),
                caption,
            )
        steps = _steps(
            s,
            with_vector(results, kept),
            ref,
            index,
            explainer,
            token_method,
            ref_view or "candidate",
            segment="on" in (segment or []),
        )
        job = s.submit_for(session, "explain", steps, replaces=old_job)
        return job, False, "Computing explanations…", ref_src, media_url(cand), caption

    @app.callback(
        Output(ids.F_REF_HEAT, "src"),
        Output(ids.F_REF_CAPTION, "children"),
        Output(ids.F_CAND_HEAT, "src"),
        Output(ids.F_CAND_CAPTION, "children", allow_duplicate=True),
        Output(ids.F_TOKENS, "figure"),
        Output(ids.F_TOKENS_NOTE, "children"),
        Output(ids.F_STATUS, "children", allow_duplicate=True),
        Output(ids.F_POLL, "disabled", allow_duplicate=True),
        Output(ids.F_CAND_MASK, "src"),
        Output(ids.F_SHOWN, "data"),
        Output(polling.answered(ids.F_POLL), "data"),
        Input(polling.tick(ids.F_POLL), "data"),
        Input(ids.F_JOB, "data"),
        Input(ids.F_EVIDENCE, "value"),
        State(ids.RESULTS_STORE, "data"),
        State(ids.F_INDEX, "data"),
        State(ids.F_SHOWN, "data"),
        State(ids.SESSION, "data"),
        prevent_initial_call=True,
    )
    def _poll(tick, job_id, evidence, results, index, shown, session):
        s.claim(session, "explain", job_id)  # the page shows this job: older ones it never saw stop
        job = s.jobs.get(job_id)
        if job is None:
            return (
                NO_HEAT,
                "",
                NO_HEAT,
                no_update,
                empty_figure("No explanation yet."),
                "",
                no_update,
                True,
                NO_HEAT,
                None,
                tick,
            )
        if job.cancelled:
            # A poll for a job that a newer one replaced (a late response): touch nothing, above all
            # not the interval, which now polls the new job; answer the gate (ui/polling.py).
            return (*(no_update,) * 10, tick)
        # Read "finished" before the results: if it was true then, every result is in the snapshot.
        finished = job.finished
        r = dict(job.results)
        sent = set((shown or {}).get("steps", [])) if (shown or {}).get("job") == job_id else set()
        if ctx.triggered_id == ids.F_EVIDENCE:
            sent -= {"ref", "cand"}  # the other side of the same maps: send both layers again (cached, no job)
        return (
            *render_poll(sal, job, r, finished, sent, results, index, evidence or "for"),
            {"job": job_id, "steps": sorted(sent | set(r))},
            tick,
        )

    @app.callback(
        Output(ids.F_SAVE_NOTE, "children"),
        Input(ids.F_SAVE, "n_clicks"),
        State(ids.RESULTS_STORE, "data"),
        State(ids.F_INDEX, "data"),
        State(ids.F_EXPLAINER, "value"),
        State(ids.F_REF_VIEW, "value"),
        State(ids.QUERY_VECTOR, "data"),
        prevent_initial_call=True,
    )
    def _save(_n, results, index, explainer, ref_view, kept):
        if not results or not results.get("ids"):
            return "Run a search first: there are no maps to save."
        try:
            written = save_maps(
                s,
                with_vector(results, kept),
                s.reference_from(results),
                min(index or 0, len(results["ids"]) - 1),
                explainer,
                ref_view or "candidate",
            )
        except Exception as exc:
            return user_message(exc, "Saving the maps")
        return f"Saved {len(written)} files to {written[0].parent}: " + ", ".join(p.name for p in written)


def register_evidence(app: Dash) -> None:
    """F1's evidence choice: offered per explainer (only signed maps have a side that lowers the score),
    and the colour scales switch to the chosen side's ramp."""
    from infocir.explain.render import EVIDENCE
    from infocir.ui.layout import evidence_options, legend_parts

    @app.callback(
        Output(ids.F_EVIDENCE, "options"),
        Output(ids.F_EVIDENCE, "value"),
        Input(ids.F_EXPLAINER, "value"),
        State(ids.F_EVIDENCE, "value"),
    )
    def _options(explainer, evidence):
        options = evidence_options(explainer)
        offered = {o["value"] for o in options if not o.get("disabled")}
        return options, (no_update if evidence in offered else "for")

    @app.callback(
        Output(ids.F_LEGEND, "children"),
        Output(ids.F_ZOOM_LEGEND, "children"),
        Input(ids.F_EVIDENCE, "value"),
        prevent_initial_call=True,
    )
    def _legend(evidence):
        side = evidence if evidence in EVIDENCE else "for"
        return legend_parts(side, 150, 14), legend_parts(side, 400, 18)


def register_zoom(app: Dash) -> None:
    app.clientside_callback(
        "function(v) { return [{opacity: v}, {opacity: v}, {opacity: v}]; }",
        Output(ids.F_REF_HEAT, "style"),
        Output(ids.F_CAND_HEAT, "style"),
        Output(ids.F_ZOOM_HEAT, "style"),
        Input(ids.F_OPACITY, "value"),
    )
    # Click-to-enlarge, in the browser: the shown image and map at a larger size (the 512 px thumbnail);
    # focus moves to "close" and back to the image it came from, for keyboard users.
    app.clientside_callback(
        ZOOM_JS,
        Output(ids.F_ZOOM, "style"),
        Output(ids.F_ZOOM_BASE, "src"),
        Output(ids.F_ZOOM_HEAT, "src"),
        Output(ids.F_ZOOM_CAPTION, "children"),
        Input(ids.F_REF_OVERLAY, "n_clicks"),
        Input(ids.F_CAND_OVERLAY, "n_clicks"),
        Input(ids.F_ZOOM_CLOSE, "n_clicks"),
        Input(ids.F_REF_IMG, "src"),
        Input(ids.F_REF_HEAT, "src"),
        Input(ids.F_REF_CAPTION, "children"),
        Input(ids.F_CAND_IMG, "src"),
        Input(ids.F_CAND_HEAT, "src"),
        Input(ids.F_CAND_CAPTION, "children"),
        State(ids.F_ZOOM, "style"),
        prevent_initial_call=True,
    )


def register_f3(app: Dash, s: Services) -> None:
    @app.callback(
        Output(ids.F_COMPARE_STORE, "data"),
        Output(ids.F_HEATMAP_NOTE, "children"),
        Input(ids.F_COMPARE, "n_clicks"),
        Input(ids.F_COMPARE_TEXT, "n_submit"),
        Input(ids.RESULTS_STORE, "data"),
        State(ids.F_COMPARE_TEXT, "value"),
        State(ids.F_COMPARE_STORE, "data"),
        prevent_initial_call=True,
    )
    def _compare(_clicks, _submit, results, text, current):
        key = search_key(results)  # a preview of E's candidate keeps its search's key, and F3's rows
        if ctx.triggered_id == ids.RESULTS_STORE:
            kept = [e for e in (current or []) if e.get("for") == key]
            return (kept if len(kept) != len(current or []) else no_update), ""
        if not results:
            return no_update, "Run a search first."
        if not (text or "").strip():
            return no_update, "Type another modification text to compare with."
        try:
            res = s.search_like(base_results(results), text)  # ranked as the original
        except Exception as exc:
            return no_update, user_message(exc, "Comparison")
        # the prompts typed here: the last few; E's candidates: all
        typed = [e for e in (current or []) if e["label"] != text and not e.get("enhanced")][-4:]
        enhanced = [e for e in (current or []) if e["label"] != text and e.get("enhanced")]
        return typed + [{"label": text, "ids": res.ids, "for": key}] + enhanced, ""

    @app.callback(
        Output(ids.F_HEATMAP, "figure"),
        Output(ids.F_SORT, "options"),
        Output(ids.F_HEATMAP_SHOWN, "children"),
        Input(ids.RESULTS_STORE, "data"),
        Input(ids.F_COMPARE_STORE, "data"),
        Input(ids.F_SORT, "value"),
        Input(ids.F_HEATMAP_COLUMNS, "value"),
    )
    def _heatmap(results, compare, sort_by, columns):
        options = [{"label": "original rank", "value": "original"}] + [
            {"label": f"Δ of “{e['label']}”", "value": e["label"]} for e in (compare or [])
        ]
        if not results or not compare:
            return (
                empty_figure(
                    "Compare the query with another prompt (or an enhancement candidate) to see rank changes."
                ),
                options,
                "",
            )
        t = heatmap_table(base_results(results), compare, sort_by)  # against the query's own ranking
        shown = largest_changes(t, columns if isinstance(columns, int) and columns >= 1 else None)
        fig = rank_delta_figure(
            shown.images,
            shown.prompts,
            shown.ranks,
            shown.delta,
            results["k"],
            thumbnails=[media_url(i, 64) for i in shown.images],
        )
        if len(shown.images) < len(t.images):
            note = f"the {len(shown.images)} largest rank changes of {len(t.images)} images"
        else:
            note = f"all {len(t.images)} images"
        return fig, options, note


def heatmap_table(results: dict, compare: list, sort_by: str | None):
    """F3's full table (every image of every compared top-k): what the heatmap shows a part of and
    what its download holds."""
    return rank_delta_table(
        results["ids"],
        [(e["label"], e["ids"]) for e in compare],
        results["k"],
        original_label=f"original: {results.get('text', '')}",
        sort_by=sort_by,
    )
