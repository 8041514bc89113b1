"""Run a widget's long work off the kernel's message loop, one job per widget.

Widgets never compute inside an observer: a blocking observer keeps the kernel
from reading the next slider or Stop message (ipywidgets issues 1349, 3468). A
`JobRunner` starts each piece of work on a worker thread with a cancel flag and
cancels the previous job when a new one is submitted, so the latest choice wins.
Jobs of one runner never overlap: a new job's thread first waits (off the kernel's
thread) until the job before it has ended, and a job cancelled while it waits ends at
once without running, so a burst of submits runs only the last one. Threads are
started through `contextvars.copy_context().run`: in JupyterLab with ipykernel >= 7
a plain thread inherits a subshell's parent header and its figure updates can be
dropped (see shared DESIGN.md). Tests swap in the inline
executor to run jobs synchronously.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Literal

Executor = Literal["thread", "inline"]

_default_executor: Executor = "thread"


def set_default_executor(executor: Executor) -> Executor:
    """Choose how new runners execute jobs ("thread" or "inline"); returns the old choice."""
    global _default_executor
    if executor not in ("thread", "inline"):
        raise ValueError(f"executor must be 'thread' or 'inline', got {executor!r}")
    old, _default_executor = _default_executor, executor
    return old


class Cancelled(Exception):
    """Raised inside a job by `Job.check()` once the job has been cancelled."""


class Job:
    """One submitted piece of work: a cancel flag, a done event and the error it raised."""

    def __init__(self, work: Callable[[Job], None]) -> None:
        self._work = work
        self._cancel = threading.Event()
        self._done = threading.Event()
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    @property
    def cancelled(self) -> bool:
        """True once `cancel()` was called."""
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        """True once the work returned, raised or noticed its cancellation."""
        return self._done.is_set()

    def cancel(self) -> None:
        """Ask the work to stop at its next `check()`."""
        self._cancel.set()

    def check(self) -> None:
        """Raise `Cancelled` if the job was cancelled: call between steps of the work."""
        if self._cancel.is_set():
            raise Cancelled

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job is done; False if `timeout` passed first."""
        return self._done.wait(timeout)

    def _run(self, on_error: Callable[[BaseException], None], after: Job | None = None) -> None:
        """Run the work (once ``after``, the job before this one, has ended) unless cancelled."""
        try:
            if after is not None:
                after.wait()
            if self.cancelled:
                return
            self._work(self)
        except Cancelled:
            pass
        except Exception as exc:  # shown in the widget, never swallowed
            self.error = exc
            if not self.cancelled:
                on_error(exc)
        finally:
            self._done.set()


class JobRunner:
    """Runs at most one job at a time for a widget; submitting a new job cancels the old one.

    The new job starts only once the old one has ended (its thread waits for it; the
    caller never blocks), so two jobs of one widget never use its model or its figures
    at the same time. The inline executor runs each job in ``submit`` itself.
    """

    def __init__(
        self,
        on_error: Callable[[BaseException], None],
        executor: Executor | None = None,
    ) -> None:
        self.on_error = on_error
        self.executor: Executor = executor or _default_executor
        self.current: Job | None = None
        self._live: list[Job] = []  # submitted jobs whose thread may still run
        self._lock = threading.Lock()

    def submit(self, work: Callable[[Job], None]) -> Job:
        """Cancel the current job (if any) and run `work(job)` as soon as that job has ended.

        Returns at once with the thread executor: the new job's thread does the waiting.
        """
        job = Job(work)
        with self._lock:
            previous = self.current
            if previous is not None:
                previous.cancel()
            self.current = job
            self._live = [j for j in self._live if not j.done] + [job]
        if self.executor == "inline":
            job._run(self.on_error)  # synchronous: the previous inline job has returned already
        else:
            after = previous if previous is not None and not previous.done else None
            ctx = contextvars.copy_context()
            job.thread = threading.Thread(
                target=ctx.run, args=(job._run, self.on_error, after), daemon=True,
                name="convis-widgets-job",
            )
            job.thread.start()
        return job

    def cancel(self, wait: float | None = 5.0) -> None:
        """Cancel every job still running or waiting its turn, and wait (up to `wait` seconds
        each) for its thread to end."""
        with self._lock:
            live, self._live = self._live, []
        for job in live:
            job.cancel()
        for job in live:
            if job.thread is not None and job.thread is not threading.current_thread():
                job.thread.join(wait)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current job is done (True) or `timeout` passes (False)."""
        job = self.current
        return True if job is None else job.wait(timeout)
