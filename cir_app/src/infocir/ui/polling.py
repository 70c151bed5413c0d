"""Polls that never drop their own answers.

The browser keeps only the newest answer of a callback: when a ``dcc.Interval`` ticks again while the
request of its last tick is still out, that request's answer is thrown away.  On a busy server, where an
answer takes longer than the interval, every answer was thrown away and the panel froze ("Computing
explanations… 3/4" in F, a map without its top-k in D) until the load fell.

So an interval does not drive a server callback directly: a browser-side gate turns a tick into a
``tick`` store change only when the server has answered the previous one (its callback echoes the tick
into the ``answered`` store), or when that answer is ``STALE_MS`` overdue (it was lost).  The server
callback takes ``Input(tick(interval), "data")`` and returns the tick it got as one more output.
"""

from __future__ import annotations

from dash import Dash, Input, Output, State, dcc

STALE_MS = 30_000
GATE_JS = """
function(n, tick, answered) {
    const now = Date.now();
    if (tick && !(answered && answered.n === tick.n) && now - tick.t < STALE_MS) {
        return window.dash_clientside.no_update;  // the last tick's answer has not come back yet
    }
    return {n: n || 0, t: now};
}
""".replace("STALE_MS", str(STALE_MS))


def tick(interval_id: str) -> str:
    return f"{interval_id}-tick"


def answered(interval_id: str) -> str:
    return f"{interval_id}-answered"


def poll_stores(interval_id: str) -> list[dcc.Store]:
    """The two stores of a gated interval (put them beside it in the layout)."""
    return [dcc.Store(id=tick(interval_id), storage_type="memory"), dcc.Store(id=answered(interval_id))]


def register_gate(app: Dash, interval_id: str) -> None:
    app.clientside_callback(
        GATE_JS,
        Output(tick(interval_id), "data"),
        Input(interval_id, "n_intervals"),
        State(tick(interval_id), "data"),
        State(answered(interval_id), "data"),
        prevent_initial_call=True,
    )
