"""The dashboard's job slots: a page's poll of job N cancels the jobs that page started before N
(their answers were dropped by the browser), and nothing else."""

import threading

from infocir.ui.services import Services


def _blocking_step(gate: threading.Event, ran: list, name: str):
    def step():
        gate.wait(10)
        ran.append(name)
        return name

    return [(name, step)]


def test_claim_cancels_only_the_pages_older_jobs(tiny_engine):
    services = Services(tiny_engine, tiny_engine.config, maps=None)
    gate, ran = threading.Event(), []
    # A running job keeps the single worker busy, so the others wait in the queue.
    busy = services.jobs.submit(_blocking_step(gate, ran, "busy"))
    a1 = services.submit_for("page-a", "explain", _blocking_step(gate, ran, "a1"))
    a2 = services.submit_for("page-a", "explain", _blocking_step(gate, ran, "a2"))
    a3 = services.submit_for("page-a", "explain", _blocking_step(gate, ran, "a3"))
    b1 = services.submit_for("page-b", "explain", _blocking_step(gate, ran, "b1"))
    a_enh = services.submit_for("page-a", "enhance", _blocking_step(gate, ran, "a-enhance"))

    services.claim("page-a", "explain", a2)  # the page shows a2: a1's answer was dropped
    assert services.jobs.get(a1).cancelled
    assert not any(services.jobs.get(j).cancelled for j in (a2, a3, b1, a_enh, busy))
    services.claim("page-a", "explain", "unknown-job")  # a stale or foreign id changes nothing
    services.claim(None, "explain", a3)
    assert not services.jobs.get(a3).cancelled

    gate.set()
    last = services.jobs.get(a_enh)
    for _ in range(200):
        if last.finished:
            break
        threading.Event().wait(0.05)
    assert last.finished
    assert "a1" not in ran and {"busy", "a2", "a3", "b1", "a-enhance"} <= set(ran)


def test_submit_for_cancels_the_job_it_replaces(tiny_engine):
    services = Services(tiny_engine, tiny_engine.config, maps=None)
    gate, ran = threading.Event(), []
    old = services.submit_for("page", "explain", _blocking_step(gate, ran, "old"))
    new = services.submit_for("page", "explain", _blocking_step(gate, ran, "new"), replaces=old)
    assert services.jobs.get(old).cancelled and not services.jobs.get(new).cancelled
    gate.set()
