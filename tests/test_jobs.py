"""JobRunner: one live job per widget, cancel that works mid-job, errors reported, no thread left."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest

from convis_widgets.jobs import Job, JobRunner, set_default_executor


def job_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "convis-widgets-job"]


def test_new_job_cancels_the_previous_one_within_one_step():
    errors: list[BaseException] = []
    runner = JobRunner(errors.append, executor="thread")
    steps: list[int] = []

    def slow(job: Job) -> None:
        for i in range(1000):
            job.check()
            steps.append(i)
            time.sleep(0.005)

    first = runner.submit(slow)
    time.sleep(0.05)
    second = runner.submit(lambda job: None)
    assert first.wait(2) and second.wait(2)
    assert first.cancelled and len(steps) < 1000 and not errors
    runner.cancel()
    assert not job_threads()


def test_errors_are_reported_unless_the_job_was_cancelled():
    errors: list[BaseException] = []
    runner = JobRunner(errors.append, executor="inline")
    job = runner.submit(lambda job: 1 / 0)
    assert isinstance(job.error, ZeroDivisionError) and errors == [job.error]

    gate = threading.Event()

    def fails_after_cancel(job: Job) -> None:
        gate.wait(2)
        raise RuntimeError("too late to matter")

    threaded = JobRunner(errors.append, executor="thread")
    stale = threaded.submit(fails_after_cancel)
    stale.cancel()
    gate.set()
    assert stale.wait(2) and len(errors) == 1  # the cancelled job's error is not shown


def test_worker_sees_the_submitters_context():
    var = contextvars.ContextVar("parent_header", default="none")
    var.set("cell 7")
    seen = []
    runner = JobRunner(lambda e: None, executor="thread")
    runner.submit(lambda job: seen.append(var.get())).wait(2)
    assert seen == ["cell 7"]


def test_hundred_quick_cycles_leave_no_thread():
    runner = JobRunner(lambda e: None, executor="thread")
    for _ in range(100):
        runner.submit(lambda job: [job.check() or time.sleep(0.001) for _ in range(50)])
    runner.cancel()
    assert not job_threads()


def test_default_executor_is_switchable_and_checked():
    old = set_default_executor("inline")
    try:
        assert JobRunner(lambda e: None).executor == "inline"
    finally:
        set_default_executor(old)
    with pytest.raises(ValueError, match="'thread' or 'inline'"):
        set_default_executor("process")  # type: ignore[arg-type]
