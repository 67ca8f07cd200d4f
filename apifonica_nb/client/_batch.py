"""Many calls at once: what a batch returns, and the workers that fetch it.

Workers run the transport's attempt loop (the one retry budget; a batch adds no second pass)
in threads of their own; the calling thread only waits, in slices, and handles every result
itself: ``on_record``, ``on_progress`` and the progress bar run in the calling thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from tqdm.auto import tqdm

from ..errors import (
    ApifonicaError,
    APIStatusError,
    AuthenticationError,
    FetchCancelled,
    InvalidRequestError,
    RateLimitedError,
)
from ._cancel import POLL_SECONDS, Stop
from ._config import validate_call_sid


class Progress(NamedTuple):
    """Counts handed to every ``on_progress=`` callable: one ``Progress`` per call.

    ``done`` calls settled (fetched, cached or failed) of ``total`` (None when not known yet,
    as while a history is listed); ``cached`` of them came from the local store, ``failed``
    could not be fetched. ``rate`` is the client's current requests per second (answers over
    the last second; None when not known).
    """

    done: int
    total: int | None
    cached: int = 0
    failed: int = 0
    rate: float | None = None


class Failures(tuple[dict[str, Any], ...]):
    """The calls a batch could not fetch: an immutable tuple of plain dicts.

    Each dict has ``call_sid``, ``error`` (the exception's class name) and ``message``.
    It compares with ``==`` (to a list of the same dicts too), so ``pd.concat`` accepts frames
    carrying it in ``df.attrs``; copying it (pandas deep-copies attrs at every step) returns
    the same object, so it costs nothing. ``pd.DataFrame(failures)`` shows it as a table.
    Treat the dicts as read-only: they are shared by every copy.
    """

    __slots__ = ()

    def __new__(cls, rows: Iterable[Mapping[str, Any]] = ()) -> Failures:
        return super().__new__(cls, (dict(row) for row in rows))

    def __copy__(self) -> Failures:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Failures:
        return self

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):
            other = tuple(other)
        return tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = tuple.__hash__

    def __add__(self, other: Iterable[Mapping[str, Any]]) -> Failures:  # type: ignore[override]
        return Failures((*self, *other))

    def __radd__(self, other: Iterable[Mapping[str, Any]]) -> Failures:
        return Failures((*other, *self))

    def __repr__(self) -> str:
        return f"Failures({list(self)!r})"


class _BatchFields(NamedTuple):
    records: list[dict[str, Any]]
    failures: Failures
    cancelled: bool


class CallBatch(_BatchFields):
    """What :meth:`Client.get_calls` returns: ``(records, failures, cancelled)``.

    ``records``: the call dicts in input order; ``failures``: a :class:`Failures`, invalid SIDs
    first, then the calls that could not be fetched, in input order; ``cancelled``: True when
    a cancel or Ctrl-C cut the batch short (SIDs in neither list were not fetched).
    """

    __slots__ = ()

    def __new__(
        cls,
        records: Iterable[dict[str, Any]],
        failures: Iterable[Mapping[str, Any]] = (),
        cancelled: bool = False,
    ) -> CallBatch:
        rows = failures if isinstance(failures, Failures) else Failures(failures)
        return super().__new__(cls, list(records), rows, bool(cancelled))


def _failure(sid: str, exc: BaseException) -> dict[str, Any]:
    return {"call_sid": sid, "error": type(exc).__name__, "message": str(exc)}


def plan(call_sids: Iterable[object]) -> tuple[list[str], list[dict[str, Any]]]:
    """Return the valid SIDs to fetch (each once, in order) and a failure row per invalid one."""
    order: dict[str, None] = {}
    invalid: list[dict[str, Any]] = []
    for raw in call_sids:
        try:
            sid = validate_call_sid(raw)
        except InvalidRequestError as exc:
            invalid.append(_failure(raw if isinstance(raw, str) else repr(raw), exc))
            continue
        order.setdefault(sid)
    return list(order), invalid


def stops_a_batch(exc: ApifonicaError, max_retry_wait: float) -> bool:
    """Whether ``exc`` for one call means the others cannot succeed now either.

    Wrong credentials (401/403) fail every call alike; a 429 asking for a wait beyond the
    budget applies to the account, not to the call.
    """
    if isinstance(exc, AuthenticationError):
        return True
    return (
        isinstance(exc, RateLimitedError)
        and exc.retry_after is not None
        and exc.retry_after > max_retry_wait
    )


FetchOne = Callable[[str, Stop], dict[str, Any]]


def run_batch(
    fetch_one: FetchOne,
    call_sids: Iterable[object],
    *,
    workers: int,
    max_retry_wait: float,
    progress: bool,
    on_record: Callable[[dict[str, Any]], None] | None,
    on_progress: Callable[[Progress], None] | None,
    cancel: threading.Event | None,
    rate: Callable[[], float | None] = lambda: None,
) -> CallBatch:
    """Fetch ``call_sids`` with ``fetch_one(sid, stop)`` in ``workers`` threads (see
    :meth:`Client.get_calls`)."""
    order, invalid = plan(call_sids)
    total = len(order) + len(invalid)
    results: dict[str, dict[str, Any]] = {}
    failed: dict[str, dict[str, Any]] = {}
    stop = Stop(cancel)
    outbox: queue.SimpleQueue[tuple[str, dict[str, Any] | BaseException]] = queue.SimpleQueue()
    todo = iter(order)
    todo_lock = threading.Lock()

    def work() -> None:
        while not stop.is_set():
            with todo_lock:
                sid = next(todo, None)
            if sid is None:
                return
            try:
                outbox.put((sid, fetch_one(sid, stop)))
            except FetchCancelled:
                return
            except BaseException as exc:  # handed to the calling thread
                if not isinstance(exc, ApifonicaError) or stops_a_batch(exc, max_retry_wait):
                    stop.halt()  # before the others start another request
                outbox.put((sid, exc))

    bar = tqdm(
        total=len(order), unit="call", desc="Fetching calls", disable=not progress, leave=False
    )
    stopper: BaseException | None = None
    was_cancelled = False

    def report() -> None:
        now = rate()
        if progress:  # the bar says how fast it goes now, and how many failed
            shown = [] if now is None else [f"{now:.0f} req/s"]
            shown += [f"failed={len(failed)}"] if failed else []
            bar.set_postfix_str(", ".join(shown), refresh=False)
        if on_progress is not None:
            done = len(results) + len(failed) + len(invalid)
            on_progress(Progress(done, total, failed=len(failed) + len(invalid), rate=now))

    try:
        report()
        for _ in range(min(workers, len(order))):
            threading.Thread(target=work, name="apifonica-batch", daemon=True).start()
        pending = len(order)
        while pending:
            if cancel is not None and cancel.is_set():
                was_cancelled = True
                break
            try:
                sid, got = outbox.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            pending -= 1
            if isinstance(got, BaseException):
                if isinstance(got, ApifonicaError):
                    failed[sid] = _failure(sid, got)
                if not isinstance(got, ApifonicaError) or stops_a_batch(got, max_retry_wait):
                    stopper = got
                    break
            else:
                results[sid] = got
                if on_record is not None:
                    on_record(got)
            bar.update(1)
            report()
    except KeyboardInterrupt:
        was_cancelled = True
    finally:
        stop.halt()  # on every way out: no worker starts a request after this returns
        bar.close()
    batch = CallBatch(
        [results[s] for s in order if s in results],
        invalid + [failed[s] for s in order if s in failed],
        cancelled=was_cancelled,
    )
    if isinstance(stopper, APIStatusError):
        stopper.batch = batch
        stopper.args = (
            f"{stopper} The batch stopped there: the {len(batch.records)} calls fetched before "
            "are in this error's .batch (.frame, from a fetch verb).",
        )
    if stopper is not None:
        raise stopper
    return batch
