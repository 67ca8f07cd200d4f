"""The recordings verbs: the typed listing, and one recording's audio bytes."""

from __future__ import annotations

import pandas as pd

from ..client import Client, validate_call_sid
from ..frame import build_recordings, warn_findings
from ..history import HistoryQuery

__all__ = ["fetch_recording_audio", "fetch_recordings"]


def fetch_recordings(
    *, client: Client, since: object = None, until: object = None, call_sid: str | None = None
) -> pd.DataFrame:
    """Fetch the account's recordings into one typed frame (:data:`RECORDING_DTYPES`).

    ``since``/``until`` bound ``record_created`` (dates, datetimes or ISO strings, UTC; a bare
    ``until`` date includes its day) and ``call_sid`` keeps one call's recordings. They are
    sent to the API (``date_from``, ``date_to``, ``call_sid``) **and** applied to what comes
    back, as for the call history, since the vendor does not document the listing's filters.
    One row per ``record_sid``; values that do not fit their column become NA with one
    warning per field.

    >>> ap.fetch_recordings(client=client, call_sid="cal…")[["record_sid", "size"]]
    """
    bounds = HistoryQuery.of(since=since, until=until)
    filters = dict(bounds.params())
    if call_sid is not None:
        filters["call_sid"] = validate_call_sid(call_sid)
    df, findings = build_recordings(client.iter_recordings(**filters))
    keep = pd.Series(True, index=df.index)
    made = df["record_created"]
    if bounds.since is not None:
        keep &= made.notna() & (made >= bounds.since)
    if bounds.until is not None:
        keep &= made.notna() & (made < bounds.until)
    if call_sid is not None:
        keep &= df["call_sid"] == filters["call_sid"]
    out = df[keep.fillna(False).astype(bool)].reset_index(drop=True)
    out.attrs.update(duplicates=df.attrs["duplicates"], warnings=[f.message() for f in findings])
    warn_findings(findings, stacklevel=2)
    return out


def fetch_recording_audio(record_sid: str, *, client: Client, format: str = "wav") -> bytes:
    """Return a recording's audio, checked to be a ``format`` file (``"wav"`` or ``"mp3"``).

    The account's credentials go to the API's own origin only: a ``rec_url`` on another
    origin (a storage host) is fetched **without** them, over https (plain http is refused
    there, except on loopback). Nothing is cached or written anywhere: the bytes are yours.

    >>> wav = ap.fetch_recording_audio("rec…", client=client)
    """
    return client.get_recording_audio(record_sid, format=format)
