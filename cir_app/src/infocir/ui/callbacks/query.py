"""Panel A: the reference (dataset pick or upload), the text, k, the method, and the search."""
from __future__ import annotations

from dash import Dash, Input, Output, State, no_update

from infocir.ui import ids
from infocir.ui.media import media_url
from infocir.ui.services import Services, user_message
from infocir.ui.uploads import UploadError, decode_upload


def register(app: Dash, s: Services) -> None:
    cfg = s.config

    @app.callback(
        Output(ids.REF_MODE, "data"),
        Output(ids.UPLOAD_MESSAGE, "children"),
        Input(ids.UPLOAD, "contents"),
        State(ids.UPLOAD, "filename"),
        prevent_initial_call=True,
    )
    def _on_upload(contents, filename):
        try:
            decode_upload(contents, filename, cfg.ui.max_upload_mb, cfg.ui.max_upload_pixels)
        except UploadError as exc:
            return "dataset", str(exc)
        return "upload", ""

    @app.callback(Output(ids.REF_MODE, "data", allow_duplicate=True), Input(ids.REFERENCE, "value"), prevent_initial_call=True)
    def _on_pick(_value):
        return "dataset"

    @app.callback(
        Output(ids.REFERENCE_PREVIEW, "src"),
        Output(ids.REFERENCE_CAPTION, "children"),
        Input(ids.REF_MODE, "data"),
        Input(ids.REFERENCE, "value"),
        State(ids.UPLOAD, "contents"),
        State(ids.UPLOAD, "filename"),
    )
    def _preview(mode, ref, contents, filename):
        if mode == "upload" and contents:
            return contents, f"uploaded: {filename}"
        if ref:
            row = s.engine.index.row_of.get(ref)
            cls = s.engine.index.classes[row] if row is not None else ""
            return media_url(ref), f"{ref} · {cls}"
        return "", "no reference"

    @app.callback(
        Output(ids.RESULTS_STORE, "data"),
        Output(ids.BROWSE_STORE, "data"),
        Output(ids.MESSAGE, "children"),
        Input(ids.SEARCH, "n_clicks"),
        Input(ids.TEXT, "n_submit"),
        State(ids.REF_MODE, "data"),
        State(ids.REFERENCE, "value"),
        State(ids.UPLOAD, "contents"),
        State(ids.UPLOAD, "filename"),
        State(ids.TEXT, "value"),
        State(ids.K, "value"),
        State(ids.METHOD, "value"),
        prevent_initial_call=True,
    )
    def _search(_clicks, _submit, mode, ref, contents, filename, text, k, method):
        if k is None or int(k) != k or not 1 <= int(k) <= 100:
            return no_update, no_update, "k must be a whole number from 1 to 100."
        try:
            if mode == "upload" and contents:
                reference = decode_upload(contents, filename, cfg.ui.max_upload_mb, cfg.ui.max_upload_pixels)
                ref_info = {"kind": "upload", "name": filename}
            else:
                reference = ref or None
                ref_info = {"kind": "dataset", "id": ref} if ref else {"kind": "none"}
            res = s.engine.search(reference, text or "", k=int(k), method=method)
        except Exception as exc:
            return no_update, no_update, user_message(exc, "Search")
        data = {
            "ids": res.ids, "rows": res.rows.tolist(), "scores": [round(float(x), 5) for x in res.scores],
            "classes": res.classes, "reference": ref_info, "text": text or "", "method": method, "k": int(k),
            "elapsed_ms": round(res.elapsed_ms, 1),
        }
        if s.maps.map is not None:
            # two 2-D points: the map redraws for highlights and ideals without recomposing the query
            data["ref_xy"], data["query_xy"] = s.placements(data, contents, res.query_vector)
        return data, None, f"{len(res.ids)} results in {res.elapsed_ms:.0f} ms"
