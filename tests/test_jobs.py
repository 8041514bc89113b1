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


def test_a_new_job_starts_only_after_the_cancelled_one_has_ended():
    errors: list[BaseException] = []
    runner = JobRunner(errors.append, executor="thread")
    first_running, release_first, second_started = threading.Event(), threading.Event(), threading.Event()
    log: list[str] = []

    def first(job: Job) -> None:
        first_running.set()
        release_first.wait(10)  # busy in one long step: it cannot see the cancel yet
        log.append("first ended")

    def second(job: Job) -> None:
        log.append("second started")
        second_started.set()

    a = runner.submit(first)
    assert first_running.wait(5)
    b = runner.submit(second)  # returns at once: the kernel's thread never waits
    assert a.cancelled and not a.done and not b.done
    assert not second_started.wait(0.2), "the second job ran while the first was still running"
    release_first.set()
    assert b.wait(5) and second_started.is_set()
    assert log == ["first ended", "second started"] and not errors
    runner.cancel()
    assert not job_threads()


def test_jobs_cancelled_while_waiting_their_turn_never_run():
    runner = JobRunner(lambda e: None, executor="thread")
    running, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def blocker(job: Job) -> None:
        running.set()
        release.wait(10)
        ran.append("blocker")

    runner.submit(blocker)
    assert running.wait(5)
    middle = [runner.submit(lambda job, k=k: ran.append(f"middle {k}")) for k in range(5)]
    last = runner.submit(lambda job: ran.append("last"))
    release.set()
    assert last.wait(5) and all(j.done and j.cancelled for j in middle)
    assert ran == ["blocker", "last"]
    runner.cancel()
    assert not job_threads()


def test_cancel_ends_a_running_job_and_every_job_waiting_behind_it():
    runner = JobRunner(lambda e: None, executor="thread")
    started, release = threading.Event(), threading.Event()
    bodies: list[int] = []

    def busy(job: Job) -> None:
        started.set()
        bodies.append(1)
        release.wait(10)  # one long step: the cancel is seen only after it

    jobs = [runner.submit(busy)]
    assert started.wait(5)
    jobs += [runner.submit(busy) for _ in range(3)]
    stopper = threading.Thread(target=runner.cancel, kwargs={"wait": 10})
    stopper.start()
    while not all(j.cancelled for j in jobs):
        time.sleep(0.001)
    assert stopper.is_alive(), "cancel() returned while a job was still running"
    release.set()
    stopper.join(10)
    assert not stopper.is_alive() and all(j.done for j in jobs) and not job_threads()
    assert bodies == [1]  # the queued ones were cancelled before their turn came
