"""Component ids, in one place so layout and callbacks cannot drift apart."""

# panel A
REFERENCE = "query-reference"
UPLOAD = "query-upload"
UPLOAD_MESSAGE = "query-upload-message"
REF_MODE = "query-ref-mode"  # dcc.Store: "dataset" | "upload"
# dcc.Store: {"key": "upload:<hash>", "name", "previous": dataset id}; the bytes stay on the server
UPLOAD_REF = "query-upload-ref"
UPLOAD_REMOVE = "query-upload-remove"  # "✕ remove upload": back to the dataset pick
EXCLUDE_REF = "query-exclude-ref"  # checklist: leave the reference out of its own results (retrieval.exclude_reference)
REF_PENDING = "query-ref-pending"  # "not searched yet" when panel A's reference is not the one of the results
REFERENCE_PREVIEW = "query-reference-preview"
REFERENCE_CAPTION = "query-reference-caption"
TEXT = "query-text"
K = "query-k"
METHOD = "query-method"
SEARCH = "query-search"
# checklist: rank only the images selected on the map (enabled while ids.BROWSE_STORE holds a selection)
SEARCH_SELECTION = "query-search-selection"
SEARCH_SELECTION_NOTE = "query-search-selection-note"  # why the box is disabled, or what it restricts to
CLEAR_SELECTION = "query-clear-selection"  # "✕ clear selection": empties ids.BROWSE_STORE
MESSAGE = "query-message"
BACKEND = "query-backend"  # the search index for this query's top k ("configured" = retrieval.backend)
# panel B
GALLERY = "results-gallery"
GALLERY_SUMMARY = "results-summary"
BACK_TO_RESULTS = "results-back"
MARK_SELECTION = "results-mark-selection"
CLEAR_IDEALS = "results-clear-ideals"
TILE = "tile"  # pattern-matching type: {"type": TILE, "id": image id}
USE_REF = "use-ref"  # pattern-matching type
SLOW_JOB = "store-slow-search"  # dcc.Store: a slow method's search running as a job (OTI): {"job", "query", ...}
SLOW_POLL = "slow-search-poll"
SLOW_CANCEL = "slow-search-cancel"
EXPANSION = "query-expansion"  # checklist: ["on"] = collection expansion (captions as extra items, index.expansion)
QUERY_MODE = "query-mode"  # radio: composed | text (text → images) | image (image → images)
REFERENCE_BLOCK = "query-reference-block"  # the reference inputs (hidden in text mode)
TEXT_BLOCK = "query-text-block"  # the text input (hidden in image mode)
TEXT_LABEL = "query-text-label"
METHOD_BLOCK = "query-method-block"  # the method and its settings (composed mode only)
METHOD_SETTINGS_BOX = "query-method-settings-box"  # <details>: the method's settings for this query
METHOD_SETTINGS = "query-method-settings"  # the boxes (ui/method_settings.py), re-drawn when the method changes
SETTING = "method-setting"  # pattern-matching type {"type": SETTING, "key": "param.steps" | "config.basic.qe_k"}
NOT_RELEVANT = "not-relevant"  # pattern-matching type {"type": NOT_RELEVANT, "id": image id}: the tile's ✗ toggle
END_PREVIEW = "results-end-preview"  # "Back to the query": ends E's preview of a candidate prompt
MARK_SELECTION_NOT_RELEVANT = "results-mark-selection-nonrel"  # a map selection, all marked not relevant
NONREL_STORE = "store-nonrelevant"  # dcc.Store: ids marked not relevant (the ideals are the relevant marks)
# relevance-feedback iterations (ui/callbacks/feedback.py)
REFINE = "feedback-refine"
FB_ALPHA, FB_BETA, FB_GAMMA = "feedback-alpha", "feedback-beta", "feedback-gamma"
FB_PSEUDO = "feedback-pseudo"  # checklist: ["pseudo"] = top P relevant, bottom P not relevant
FB_PSEUDO_P = "feedback-pseudo-p"
FB_MESSAGE = "feedback-message"
FB_HISTORY = "store-feedback-history"  # dcc.Store: {"steps": [{"results", "vector"}], "at": shown step}
FB_HISTORY_VIEW = "feedback-history"
FB_STEP = "feedback-step"  # pattern-matching type {"type": FB_STEP, "index": step}: restores that step
# panel C
HISTOGRAM = "dist-histogram"
WORDCLOUD = "dist-wordcloud"
WORDCLOUD_MODE = "dist-wordcloud-mode"
HIGHLIGHT_NOTE = "dist-highlight-note"
# panel D
MAP = "map-graph"
MAP_STATUS = "map-status"
MAP_POLL = "map-poll"
MAP_LINES = "map-lines"
MAP_TOOL = "map-tool"  # dcc.Store: the drag tool the user picked in the mode bar (zoom, pan, lasso, select)
# per-session state (dcc.Store, memory: one per browser tab)
RESULTS_STORE = "store-results"
IDEALS_STORE = "store-ideals"
HIGHLIGHT_STORE = "store-highlight"
BROWSE_STORE = "store-browse"
QUERY_VECTOR = (
    "store-query-vector"  # {"vector": base64 float32 | None}: the search's composed query, beside the results
)
# panel F
F_EXPLAINER = "explain-explainer"
F_TOKEN_METHOD = "explain-token-method"
F_OPACITY = "explain-opacity"
F_REF_VIEW = "explain-ref-view"  # what the reference map explains (explain.service.REFERENCE_VIEWS)
F_SAVE = "explain-save"
F_SAVE_NOTE = "explain-save-note"
F_PREV = "explain-prev"
F_NEXT = "explain-next"
F_INDEX = "explain-index"  # dcc.Store: which top-k candidate F1 shows
F_JOB = "explain-job"  # dcc.Store: the running job's id
F_SHOWN = "explain-shown"  # dcc.Store: {"job": id, "steps": [...]} already rendered, so a poll sends only what is new
F_POLL = "explain-poll"
F_STATUS = "explain-status"
F_REF_IMG = "explain-ref-img"
F_REF_HEAT = "explain-ref-heat"
F_REF_CAPTION = "explain-ref-caption"
F_CAND_IMG = "explain-cand-img"
F_CAND_HEAT = "explain-cand-heat"
F_CAND_CAPTION = "explain-cand-caption"
F_CAND_MASK = "explain-cand-mask"  # the outline of the region the query text refers to (explain.segmentation)
F_EVIDENCE = "explain-evidence"  # radio: show what raises the score ("for") or what lowers it ("against")
F_LEGEND = "explain-legend"  # F1's colour-scale strip (its ramp follows F_EVIDENCE)
F_ZOOM_LEGEND = "explain-zoom-legend"
F_SEGMENT = "explain-segment"  # checklist: ["on"] = outline that region on the shown candidate
F_TOKENS = "explain-tokens"
F_TOKENS_NOTE = "explain-tokens-note"
F_COMPARE_TEXT = "explain-compare-text"
F_COMPARE = "explain-compare"
F_COMPARE_STORE = "explain-compare-store"  # dcc.Store: [{"label", "ids"}] prompts compared with the original
F_SORT = "explain-sort"
F_HEATMAP = "explain-heatmap"
F_HEATMAP_NOTE = "explain-heatmap-note"
# panel E
E_PROVIDER = "enhance-provider"
E_RUN = "enhance-run"
E_STATUS = "enhance-status"
E_IDEALS_NOTE = "enhance-ideals-note"
E_JOB = "enhance-job"
E_POLL = "enhance-poll"
E_RESULT = "enhance-result"  # dcc.Store: EnhancementResult.to_dict()
E_SELECTED = "enhance-selected"  # dcc.Store: selected row index
E_TABLE = "enhance-table"
E_ROW = "enhance-row"  # pattern-matching type: {"type": E_ROW, "index": row}
E_ADOPT = "enhance-adopt"
E_PREVIEW = "enhance-preview"
# share and export (ui/callbacks/share.py)
URL = "share-url"  # dcc.Location read on load and on back/forward: the query lives in the address
URL_WRITE = (
    "share-url-write"  # dcc.Location the page writes (?ref=…&text=…&method=…&k=…&ideal=…); two, so no callback cycle
)
URL_WRITTEN = (
    "share-url-written"  # dcc.Store: the address the page wrote last (its own change is not a link to restore)
)
SHARE_NOTE = "share-note"
SHARE_LINK = "share-link"  # read-only text: the page's address, with a dcc.Clipboard beside it
SHARE_LINK_COPY = "share-link-copy"
SHARE_CLI = "share-cli"  # read-only text: the `infocir search ...` command of the current query
SHARE_CLI_COPY = "share-cli-copy"
DL_RESULTS_CSV = "share-results-csv"
DL_RESULTS_JSON = "share-results-json"
DL_RESULTS = "share-results-download"
E_DOWNLOAD = "enhance-download"
E_DOWNLOAD_FILE = "enhance-download-file"
F_HEATMAP_DOWNLOAD = "explain-heatmap-download"
F_HEATMAP_DOWNLOAD_FILE = "explain-heatmap-download-file"
F_HEATMAP_COLUMNS = "explain-heatmap-columns"  # how many images F3 shows (the largest rank changes)
# readable explanations: the enlarged saliency view
F_ZOOM = "explain-zoom"  # the modal
F_ZOOM_BASE = "explain-zoom-base"
F_ZOOM_HEAT = "explain-zoom-heat"
F_ZOOM_CAPTION = "explain-zoom-caption"
F_ZOOM_CLOSE = "explain-zoom-close"
F_REF_OVERLAY = "explain-ref-overlay"  # the clickable image + map stacks
F_CAND_OVERLAY = "explain-cand-overlay"
F_HEATMAP_SHOWN = "explain-heatmap-shown"  # "showing the N largest rank changes of M images"
# panel D, both ways (ui/callbacks/embedding.py, assets/linking.js)
MAP_WRAP = "map-wrap"  # the map, its hover card and its click card (positioned over the map)
MAP_COLOUR = "map-colour"  # dropdown: colour the points by class or by an attribute of attributes.csv
MAP_COLOUR_NOTE = "map-colour-note"  # why attributes.csv could not be used (the app keeps class colours)
MAP_HOVER = "map-hover"  # dcc.Tooltip: thumbnail, id, class and rank of the point under the pointer
MAP_CARD = "map-card"  # the card a map click opens
MAP_CARD_STORE = "map-card-store"  # dcc.Store: {"row", "bbox"} of the clicked point, None: closed
MAP_CARD_IMG = "map-card-img"
MAP_CARD_TEXT = "map-card-text"
MAP_CARD_USE = "map-card-use"  # "use as reference": that image becomes the reference and the search runs
MAP_CARD_IDEAL = "map-card-ideal"  # "mark ideal" / "unmark ideal"
MAP_CARD_CLOSE = "map-card-close"
DIST_SCOPE = "dist-scope"  # what C counts: the top-k or a map selection
WORDCLOUD_WORDS = "dist-wordcloud-words"  # the clickable words over C2's picture
WORD = "cloud-word"  # pattern-matching type: {"type": WORD, "name": class}
SESSION = "store-session"  # dcc.Store: a random id per page, so the server can cancel the page's older jobs
F_ZOOM_HINT = "explain-zoom-hint"
MAP_READY = "map-ready"  # dcc.Store: "ready" | "error" once the map service has a map (set by the poll)
MAP_DRAWN = "map-drawn"  # dcc.Store: the colouring of the full figure on the page (None: not drawn yet)
# dcc.Store: a selection event on a density map, reduced in the browser to the region drawn (its points are not sent)
MAP_REGION = "map-region"
# benchmark query browser (ui/callbacks/benchmark.py): failure analysis over the benchmark's queries
BENCH = "bench"  # the collapsible section
BENCH_TOGGLE = "bench-toggle"  # opens / closes it (n_clicks odd: open)
BENCH_BODY = "bench-body"
BENCH_K = "bench-k"  # the cut-off of AP@k and R@k
BENCH_METHODS = "bench-methods"  # multi-select: 1–3 methods side by side (one or none: follows panel A's)
BENCH_FILTER = "bench-filter"  # substring of the query text (or of the changed attribute)
BENCH_STATUS = "bench-status"
BENCH_TABLE = "bench-table"  # the table's container: a keyboard stop (↑/↓ step through the rows, assets/keyboard.js)
BENCH_ROW = "bench-row"  # pattern-matching type: {"type": BENCH_ROW, "index": query position}
BENCH_SORT_COL = "bench-sort-col"  # pattern-matching type: {"type": BENCH_SORT_COL, "col": column}
BENCH_SORT = "bench-sort"  # dcc.Store: {"col", "asc"}; col: q, text, group, n, ap<i>, first<i>, recall<i>, delta
BENCH_DATA = "bench-data"  # dcc.Store: the table for the chosen methods and k (compact rows, no target lists)
BENCH_JOB = "bench-job"  # dcc.Store: the running job's id
BENCH_POLL = "bench-poll"
BENCH_SELECTED = "bench-selected"  # dcc.Store: the query loaded into panel A
BENCH_TARGETS = "bench-targets"  # dcc.Store: {"reference", "text", "targets"}: marked in B while that query is shown
BENCH_COPY = "bench-copy"  # "copy targets to ideals"
BENCH_CSV = "bench-csv"
BENCH_JSON = "bench-json"
BENCH_DOWNLOAD = "bench-download"
# methods side by side (ui/compare_view.py, ui/callbacks/compare.py): 2–3 methods on panel A's query
CMP = "cmp"  # the collapsible section
CMP_TOGGLE = "cmp-toggle"  # opens / closes it (n_clicks odd: open)
CMP_BODY = "cmp-body"
CMP_METHODS = "cmp-methods"  # multi-select of the methods to compare
CMP_RUN = "cmp-run"  # "Compare"
CMP_ON_MAP = "cmp-on-map"  # checklist: ["map"] = the compared top-k on the map (D) in distinct markers
CMP_MESSAGE = "cmp-message"
CMP_STORE = "cmp-store"  # dcc.Store: the comparison (query, each method's top k, relevant set); "stale" once B moves on
CMP_MAP = "cmp-map"  # dcc.Store: [{"label", "rows"}] per compared method for the map, None: nothing drawn
CMP_VIEW = "cmp-view"  # the columns and the overlap@k matrix
CMP_HEATMAP = "cmp-heatmap"  # F3's rank-change heatmap across methods (rows = methods)
