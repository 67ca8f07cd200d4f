"""What every fetch verb's frame carries: the cache mode, the attrs, and the one warning place."""

from __future__ import annotations

import datetime as dt
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import pandas as pd

from ..cache import CallStore
from ..client import Failures, Progress
from ..errors import (
    AuthenticationError,
    FetchFailuresWarning,
    InvalidRequestError,
    RateLimitedError,
)
from ..frame import Finding, build_frame, warn_findings

CacheMode = bool | Literal["refresh"]


def cache_mode(cache: object) -> str | None:
    """Return "use", "refresh" or None (bypass) for a ``cache=`` argument."""
    if cache is True:
        return "use"
    if cache is False or cache is None:
        return None
    if cache == "refresh":
        return "refresh"
    raise InvalidRequestError(f"cache must be True, False or 'refresh', got {cache!r}")


def cache_attrs(hits: int, misses: int, store: CallStore | None) -> dict[str, Any]:
    return {"hits": hits, "misses": misses, "path": None if store is None else str(store.path)}


ProgressCallback = Callable[[Progress], None]


def _plain(value: object) -> object:
    """Return an argument as plain data for ``df.attrs``: ISO text for dates, lists of text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dt.date):  # datetimes and pandas Timestamps too
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return str(value)


def provenance(
    df: pd.DataFrame, *, client: object, price_unit: str, asked: dict[str, Any]
) -> pd.DataFrame:
    """Record where ``df`` came from and what was asked, as plain data in ``df.attrs``.

    ``account_sid``, ``base_url``, ``price_unit`` and ``query`` (the arguments given, None
    left out): what :func:`apifonica_nb.report` says in its header when it is given a frame.
    """
    df.attrs["account_sid"] = getattr(client, "account_sid", None)
    df.attrs["base_url"] = getattr(client, "base_url", None)
    df.attrs["price_unit"] = price_unit
    df.attrs["query"] = {k: _plain(v) for k, v in asked.items() if v is not None}
    return df


def typed_frame(
    records: list[dict[str, Any]], price_unit: str, found: list[Finding]
) -> pd.DataFrame:
    """Build the typed frame of ``records``; what was ruled out goes to ``found``."""
    df, findings = build_frame(records, price_unit=price_unit)
    found.extend(findings)
    return df


def finish(
    df: pd.DataFrame,
    *,
    failures: Iterable[dict[str, Any]] = (),
    total: int,
    found: Sequence[Finding] = (),
    cancelled: bool = False,
    stopped_at: int | None = None,
    warn: bool,
) -> pd.DataFrame:
    """Set the attrs every verb's frame carries, and warn (once, at the verb's caller).

    ``df.attrs["complete"]`` is False when a cancel or ``max_calls`` cut the fetch
    (``stopped_at``: the ``max_calls`` that stopped it, None otherwise).
    ``df.attrs["warnings"]`` holds the warnings' texts whether or not they are emitted, so a
    form that shows them itself passes ``warn=False``.
    """
    failed = Failures(failures)
    df.attrs["failures"] = failed
    df.attrs["cancelled"] = cancelled
    df.attrs["complete"] = not cancelled and stopped_at is None
    df.attrs["stopped_at"] = stopped_at
    texts: list[tuple[str, type[Warning]]] = []
    if failed:
        kinds = Counter(f["error"] for f in failed)
        summary = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
        texts.append(
            (
                f"{len(failed)} of {total} calls could not be fetched ({summary}); they are "
                'listed in df.attrs["failures"] (pd.DataFrame(df.attrs["failures"]) shows them).',
                FetchFailuresWarning,
            )
        )
    df.attrs["warnings"] = tuple(f.message() for f in found) + tuple(t for t, _ in texts)
    if warn:
        warn_findings(found, stacklevel=3)
        for text, category in texts:
            warnings.warn(text, category, stacklevel=3)
    return df


def stopped(exc: AuthenticationError | RateLimitedError, df: pd.DataFrame) -> None:
    """Hand the frame of what was fetched before ``exc`` stopped the verb to its caller."""
    df.attrs["complete"] = False
    exc.frame = df
    if ".frame" in str(exc):  # a batch's error already says where the calls went
        return
    exc.args = (
        f"{exc.args[0] if exc.args else exc} The {len(df)} calls fetched before it stopped "
        "are in the exception's .frame (except ... as e: e.frame).",
    )
