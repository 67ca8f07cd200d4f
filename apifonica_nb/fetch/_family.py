"""One call's family: the call, its parent and every other leg forwarded from that parent."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd

from ..client import Client, validate_call_sid
from ..errors import ApifonicaWarning, NotFoundError
from ..frame import build_frame, warn_findings
from ._history import fetch_history

__all__ = ["FAMILY_ROLES", "call_family"]

#: ``role`` of a row of :func:`call_family`: the parent leg, or a leg forwarded from it.
FAMILY_ROLES: tuple[str, ...] = ("parent", "leg")
#: Legs are looked for in the parent's time span, widened by this margin on both sides.
_MARGIN = pd.Timedelta(minutes=5)


def _parent_of(record: dict[str, Any]) -> str | None:
    raw = record.get("parent_call_sid")
    parent = raw.strip() if isinstance(raw, str) else ""
    return parent if parent and parent != record.get("call_sid") else None


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate call frames keeping categoricals (their categories united, in order)."""
    frames = [f for f in frames if len(f)] or frames[:1]
    for name in frames[0].columns:
        if isinstance(frames[0][name].dtype, pd.CategoricalDtype):
            united = list(dict.fromkeys(c for f in frames for c in f[name].cat.categories))
            for f in frames:
                f[name] = f[name].cat.set_categories(united)
    return pd.concat(frames, ignore_index=True)


def call_family(call_sid: str, *, client: Client) -> pd.DataFrame:
    """Return the call, its parent and every sibling leg as one typed frame, parent first.

    The columns of :data:`~apifonica_nb.CALL_DTYPES`, plus ``role`` (``"parent"`` or ``"leg"``)
    and ``asked`` (True on the row of ``call_sid``). A call without a parent (or, as in the
    vendor's example, its own parent) is the parent of the family.

    How the legs are found: the API documents **no** parent filter for the history, so the
    client filters. It GETs the call and its parent, reads the history of the parent's span
    (created to ended, five minutes either side; :func:`~apifonica_nb.fetch_history`, cache
    included) and keeps the calls whose ``parent_call_sid`` is the parent. A parent the API
    no longer has (404) gives the family without it, with a warning; the legs are then looked
    for around the asked call. ``attrs["parent_call_sid"]`` names the parent either way.

    >>> ap.call_family("cal…", client=client)[["call_sid", "role", "status", "asked"]]
    """
    sid = validate_call_sid(call_sid)
    asked = client.get_call(sid)
    parent_sid = _parent_of(asked) or sid
    direct = [asked]
    if parent_sid != sid:
        try:
            direct.insert(0, client.get_call(parent_sid))
        except NotFoundError:
            warnings.warn(
                f"The parent {parent_sid} of call {sid} was not found; the family is shown "
                "without it (its legs are looked for around the asked call).",
                ApifonicaWarning,
                stacklevel=2,
            )
    known, findings = build_frame(direct)
    span = known.iloc[0]
    since = span["created"] - _MARGIN if pd.notna(span["created"]) else None
    until = span["ended"] + _MARGIN if pd.notna(span["ended"]) else None
    listed = fetch_history(client=client, since=since, until=until, progress=False, warn=False)
    legs = listed[
        (listed["parent_call_sid"] == parent_sid).fillna(False)
        & ~listed["call_sid"].isin(known["call_sid"])
        & (listed["call_sid"] != parent_sid)
    ]
    family = _concat([known, legs.reset_index(drop=True)])
    is_parent = (family["call_sid"] == parent_sid).fillna(False).astype(bool)
    family = family.assign(
        _order=~is_parent,
        role=pd.Categorical(
            ["parent" if p else "leg" for p in is_parent], categories=list(FAMILY_ROLES)
        ),
        asked=(family["call_sid"] == sid).fillna(False).astype("boolean"),
    )
    family = family.sort_values(["_order", "created", "call_sid"], kind="stable")
    family = family.drop(columns="_order").reset_index(drop=True)
    family.attrs.update(
        parent_call_sid=parent_sid,
        call_sid=sid,
        warnings=[f.message() for f in findings] + list(listed.attrs.get("warnings", ())),
        failures=listed.attrs.get("failures", ()),
    )
    warn_findings(findings, stacklevel=2)
    return family
