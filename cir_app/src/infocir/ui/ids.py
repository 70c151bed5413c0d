"""Component ids, in one place so layout and callbacks cannot drift apart."""
# panel A
REFERENCE = "query-reference"
UPLOAD = "query-upload"
UPLOAD_MESSAGE = "query-upload-message"
REF_MODE = "query-ref-mode"  # dcc.Store: "dataset" | "upload"
REFERENCE_PREVIEW = "query-reference-preview"
REFERENCE_CAPTION = "query-reference-caption"
TEXT = "query-text"
K = "query-k"
METHOD = "query-method"
SEARCH = "query-search"
MESSAGE = "query-message"
# panel B
GALLERY = "results-gallery"
GALLERY_SUMMARY = "results-summary"
BACK_TO_RESULTS = "results-back"
MARK_SELECTION = "results-mark-selection"
CLEAR_IDEALS = "results-clear-ideals"
TILE = "tile"  # pattern-matching type: {"type": TILE, "id": image id}
USE_REF = "use-ref"  # pattern-matching type
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
# per-session state (dcc.Store, memory: one per browser tab)
RESULTS_STORE = "store-results"
IDEALS_STORE = "store-ideals"
HIGHLIGHT_STORE = "store-highlight"
BROWSE_STORE = "store-browse"
