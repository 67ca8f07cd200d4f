"""The small fetch verbs: a client plus the parser give one typed DataFrame.

Each verb returns one DataFrame (see :data:`apifonica_nb.CALL_DTYPES`). Calls that could not
be fetched are listed in ``df.attrs["failures"]`` (plain dicts ``call_sid``, ``error``,
``message``) and summarised in one :class:`~apifonica_nb.errors.FetchFailuresWarning`.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from tqdm.auto import tqdm

from .client import Client
from .errors import FetchFailuresWarning, InvalidRequestError
from .records import calls_to_frame

if TYPE_CHECKING:
    from .sandbox import Sandbox

__all__ = ["DEMO_NOW", "connect", "fetch_call", "fetch_calls", "fetch_history"]

#: The frozen clock of the sandbox that :func:`connect` starts, so notebooks are reproducible.
DEMO_NOW = "2026-11-01T12:00:00+00:00"

_DATE_ONLY = re.compile(r"\s*\d{4}-\d{2}-\d{2}\s*")


def _with_failures(df: pd.DataFrame, failures: list[dict[str, Any]], total: int) -> pd.DataFrame:
    df.attrs["failures"] = failures
    if failures:
        kinds = Counter(f["error"] for f in failures)
        summary = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
        warnings.warn(
            f"{len(failures)} of {total} calls could not be fetched ({summary}); they are listed "
            'in df.attrs["failures"] (pd.DataFrame(df.attrs["failures"]) shows them).',
            FetchFailuresWarning,
            stacklevel=3,
        )
    return df


def fetch_call(call_sid: str, *, client: Client, price_unit: str = "EUR") -> pd.DataFrame:
    """Fetch one call into a one-row DataFrame; raise a typed error if it cannot be fetched.

    >>> df = ap.fetch_call("cal…", client=client)
    >>> df.loc[0, ["status", "talk_seconds", "cost_eur"]]
    """
    df = calls_to_frame([client.get_call(call_sid)], price_unit=price_unit)
    df.attrs["failures"] = []
    return df


def fetch_calls(
    call_sids: Iterable[str],
    *,
    client: Client,
    workers: int = 8,
    progress: bool = True,
    price_unit: str = "EUR",
) -> pd.DataFrame:
    """Fetch many calls concurrently into one DataFrame, in input order.

    A SID given twice is fetched once. Invalid SIDs and calls that could not be fetched do not
    stop the batch: they are listed in ``df.attrs["failures"]`` with a warning.

    >>> df = ap.fetch_calls(sids, client=client, workers=8)
    >>> pd.DataFrame(df.attrs["failures"])
    """
    sids = list(call_sids)
    batch = client.get_calls(sids, workers=workers, progress=progress)
    df = calls_to_frame(batch.records, price_unit=price_unit)
    return _with_failures(df, batch.failures, len(sids))


def _bound(value: object, *, end: bool) -> pd.Timestamp | None:
    """Turn ``since``/``until`` into a UTC instant; a bare date means its whole day."""
    if value is None:
        return None
    date_only = (isinstance(value, date) and not isinstance(value, datetime)) or (
        isinstance(value, str) and _DATE_ONLY.fullmatch(value) is not None
    )
    try:
        ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        which = "until" if end else "since"
        raise InvalidRequestError(
            f"{which}={value!r} is not a date or datetime (try '2026-10-01' or a Timestamp)"
        ) from exc
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if date_only and end:
        ts += pd.Timedelta(days=1)
    return ts


def _as_list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _history_mask(
    df: pd.DataFrame,
    since: pd.Timestamp | None,
    until: pd.Timestamp | None,
    equal: dict[str, list[str]],
) -> pd.Series:
    """Which rows match the filters (vectorised), so results are right whatever the server did."""
    mask = pd.Series(True, index=df.index)
    if since is not None:
        mask &= (df["created"] >= since).fillna(False).astype(bool)
    if until is not None:
        mask &= (df["created"] < until).fillna(False).astype(bool)
    for column, allowed in equal.items():
        mask &= df[column].astype("str").isin(allowed).astype(bool)
    return mask


def fetch_history(
    *,
    client: Client,
    since: object = None,
    until: object = None,
    status: str | Sequence[str] | None = None,
    direction: str | None = None,
    channel: str | Sequence[str] | None = None,
    tag: str | Sequence[str] | None = None,
    max_calls: int | None = None,
    progress: bool = True,
    price_unit: str = "EUR",
) -> pd.DataFrame:
    """Fetch the account's call history into one DataFrame, newest first.

    ``since`` and ``until`` take dates, datetimes or ISO strings (naive means UTC): calls created
    at or after ``since`` and before ``until`` (a bare date includes that whole day). ``status``,
    ``channel`` and ``tag`` take one value or a list. The filters are sent to the API **and**
    applied to what comes back, so the result is right even if the server ignores one.
    ``max_calls`` stops after that many matching calls.

    >>> df = ap.fetch_history(client=client, since="2026-10-01", status=["failed", "busy"])
    """
    if max_calls is not None and max_calls < 0:
        raise InvalidRequestError(f"max_calls must be 0 or more, got {max_calls}")
    start, end = _bound(since, end=False), _bound(until, end=True)
    if start is not None and end is not None and start >= end:
        raise InvalidRequestError(f"since ({since!r}) must be before until ({until!r})")
    equal = {
        name: values
        for name, values in (
            ("status", _as_list(status)),
            ("direction", _as_list(direction)),
            ("channel", _as_list(channel)),
            ("tag", _as_list(tag)),
        )
        if values is not None
    }
    query: dict[str, Any] = dict(equal)
    if start is not None:
        query["date_from"] = start.date()
    if end is not None:
        # The API's date_to is an inclusive day: the day of the last instant before ``end``.
        query["date_to"] = (end - pd.Timedelta(microseconds=1)).date()

    records: list[dict[str, Any]] = []
    next_check = max_calls or 0
    bar = tqdm(
        total=max_calls, unit="call", desc="Fetching history", disable=not progress, leave=False
    )
    try:
        if max_calls != 0:
            for record in client.iter_calls(**query):
                records.append(record)
                bar.update(1)
                if max_calls is not None and len(records) >= next_check:
                    with warnings.catch_warnings():  # reported once, on the final frame
                        warnings.simplefilter("ignore")
                        partial = calls_to_frame(records)
                    matched = int(_history_mask(partial, start, end, equal).sum())
                    if matched >= max_calls:
                        break
                    # The server ignored a filter: read on until enough rows could match.
                    next_check = len(records) + max_calls - matched
    finally:
        bar.close()
    df = calls_to_frame(records, price_unit=price_unit)
    mask = _history_mask(df, start, end, equal)
    if not mask.all():
        df = df[mask.to_numpy()].reset_index(drop=True)
    if max_calls is not None:
        df = df.head(max_calls)
    df.attrs["failures"] = []
    df.attrs["filtered_locally"] = int((~mask).sum())
    return df


# -- connect ------------------------------------------------------------------------------------

_demo_lock = threading.Lock()
_demo: dict[tuple[int, int, str | None], Sandbox] = {}


def connect(
    *, calls: int = 500, seed: int = 7, now: str | None = DEMO_NOW, quiet: bool = False
) -> Client:
    """Return a client for the real API if credentials are set, else for a seeded sandbox.

    With ``APIFONICA_ACCOUNT_SID`` in the environment this is :meth:`Client.from_env`.
    Otherwise a sandbox with ``calls`` calls (seeded, clock frozen at ``now``; ``now=None``
    for a live clock) starts in the background, once per process, and stops at exit.
    One line says which was chosen.

    >>> client = ap.connect()
    """
    if os.environ.get("APIFONICA_ACCOUNT_SID"):
        client = Client.from_env()
        if not quiet:
            print(
                f"apifonica_nb: using the Apifonica API at {client.base_url} as account "
                f"{client.account_sid} (APIFONICA_* environment variables)."
            )
        return client
    from . import sandbox  # deferred: the server is only needed when there are no credentials

    key = (calls, seed, now)
    with _demo_lock:
        sb = _demo.get(key)
        if sb is None:
            sb = sandbox.start(calls=calls, seed=seed, now=now)
            _demo[key] = sb
            atexit.register(sb.stop)
    if not quiet:
        clock = f"clock frozen at {now}" if now else "live clock"
        print(
            f"apifonica_nb: APIFONICA_ACCOUNT_SID is not set, so this runs on the bundled sandbox "
            f"({calls} seeded calls, {clock}) at {sb.url}."
        )
    return sb.client()
