"""Generate the sandbox's synthetic Apifonica account: seeded, vectorised, no I/O.

One :class:`Account` holds every call of the account as numpy columns (for filtering) plus the
serialised JSON bytes of each finished call (for fast serving). A handful of calls are still in
progress at the clock anchor; their state is computed from the clock at request time
(:meth:`Account.call_record`), so they move through queued -> initiated -> ringing -> answered
(-> modified) -> completed as the sandbox clock advances, and their price appears up to 60 s
after they end, as the vendor says billing lags.

Wire choices (the vendor does not document them, so the sandbox picks one and keeps to it):
``duration`` is the billed seconds from ``created`` to ``ended`` (as in the vendor's example);
unanswered final calls have ``started`` null, ``ended`` set, ``duration`` 0 and ``price`` 0.0;
``price`` is EUR (``round(rate_per_minute * duration / 60, 4)``); a live call has its request
parameters (controller, method, timeout, tag, channel) from creation and ``started``,
``ended``, ``duration``, ``price`` and ``record_sid`` null until it completes.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "CHANNELS",
    "DIRECTIONS",
    "EXAMPLE_CALL",
    "FINAL_STATUSES",
    "METHODS",
    "STATUSES",
    "Account",
    "CallFilter",
    "credentials",
    "format_rfc2822",
]

# The vocabularies, as the vendor documents them. The sandbox keeps its own copy (it never
# imports the client side): tests/test_vocabularies.py checks it agrees with apifonica_nb.frame.

#: Every status the vendor documents; the code of a status is its index here.
STATUSES: tuple[str, ...] = (
    "queued",
    "initiated",
    "ringing",
    "answered",
    "modified",
    "completed",
    "no_answer",
    "canceled",
    "busy",
    "rejected",
    "failed",
)
FINAL_STATUSES: frozenset[str] = frozenset(
    {"completed", "no_answer", "canceled", "busy", "rejected", "failed"}
)
DIRECTIONS: tuple[str, ...] = ("inbound", "outbound")
CHANNELS: tuple[str, ...] = ("number", "viber")
#: How the API requests a call's XML controller; index 1 (True) is POST.
METHODS: tuple[str, ...] = ("GET", "POST")
_S = {name: code for code, name in enumerate(STATUSES)}

#: The vendor's documented example call (get-call-details), minus the SIDs the sandbox makes.
EXAMPLE_CALL: dict[str, Any] = {
    "created": "Fri, 21 Apr 2017 13:01:25 +0000",
    "from": "358942417543",
    "to": "312031550066",
    "direction": "outbound",
    "status": "completed",
    "controller": "http://apifonica.com/voicexml/getxml?xml_variant=welcome_to_apifonica",
    "method": "POST",
    "timeout": 15,
    "updated": "Fri, 21 Apr 2017 13:02:02 +0000",
    "started": "Fri, 21 Apr 2017 13:01:37 +0000",
    "ended": "Fri, 21 Apr 2017 13:01:43 +0000",
    "duration": 18,
    "price": 0.0294,
    "record_sid": "rec17cb9958-3878-4562-b6a7-f67a0adsfsdfd",
    "tag": "MyClient_1",
    "channel": "number",
}
_EXAMPLE_TS = (1492779685, 1492779722, 1492779697, 1492779703)  # created, updated, started, ended
_FIELDS = (
    "call_sid",
    "parent_call_sid",
    "created",
    "account_sid",
    "from",
    "to",
    "direction",
    "status",
    "controller",
    "method",
    "timeout",
    "updated",
    "started",
    "ended",
    "duration",
    "price",
    "record_sid",
    "tag",
    "channel",
    "number_sid",
)

# Destination countries: weight, outbound per-minute rate (EUR) and E.164 prefixes followed by
# so many random digits; every prefix was checked to give numbers `phonenumbers` calls valid.
_COUNTRIES: tuple[tuple[str, float, float, tuple[tuple[str, int], ...]], ...] = (
    ("FI", 0.24, 0.098, (("35840", 7), ("35850", 7), ("35894", 7))),
    ("NL", 0.11, 0.065, (("3161", 7), ("3165", 7), ("3120", 7))),
    ("DE", 0.11, 0.072, (("49151", 8), ("49170", 8), ("4930", 8))),
    ("GB", 0.10, 0.045, (("4474", 8), ("44207", 7))),
    ("US", 0.08, 0.015, (("12125", 6), ("14155", 6), ("16467", 6))),
    ("FR", 0.07, 0.085, (("3361", 7), ("3375", 7), ("331", 8))),
    ("ES", 0.06, 0.060, (("346", 8), ("3491", 7))),
    ("IT", 0.05, 0.075, (("3933", 8), ("3906", 8))),
    ("SE", 0.07, 0.040, (("4670", 7), ("468", 7))),
    ("PL", 0.04, 0.090, (("4850", 7), ("4860", 7))),
    ("LV", 0.035, 0.190, (("37126", 6), ("3716", 7))),
    ("EE", 0.035, 0.240, (("3725", 7), ("3726", 6))),
)
_INBOUND_RATE = 0.008  # EUR/min for receiving a call on an account number
_VIBER_FACTOR = 0.3  # Viber calls cost a fraction of the PSTN rate
# The account's own numbers (the first is the vendor example's caller ID).
_OWN_PREFIXES = (("35894", 7), ("3120", 7), ("44207", 7), ("4930", 8))
_OWN_WEIGHTS = (0.5, 0.2, 0.15, 0.15)
_FINAL_MIX = (
    ("completed", 0.69),
    ("no_answer", 0.13),
    ("busy", 0.065),
    ("failed", 0.045),
    ("rejected", 0.035),
    ("canceled", 0.035),
)
_CONTROLLERS = (
    "http://apifonica.com/voicexml/getxml?xml_variant=welcome_to_apifonica",
    "https://ivr.example.com/voicexml/main-menu.xml",
    "https://crm.example.net/apifonica/controller?step=start",
    "https://hooks.example.org/calls/outbound",
)
# "MyClient_1" is left to the vendor's example call alone, so that tag finds exactly that call.
_TAGS = ("MyClient_2", "MyClient_3", "support", "sales", "campaign-spring")
_TIMEOUTS = np.array([15, 20, 30, 45, 60])
_WEEKDAY_WEIGHT = np.array([1.0, 1.05, 1.0, 0.95, 0.85, 0.3, 0.2])  # Monday first
# Hourly weight in UTC: office hours in Europe (07-16 UTC) are busiest.
_HOUR_WEIGHT = np.array(
    [
        *(0.1, 0.06, 0.05, 0.05, 0.08, 0.2, 0.5, 1.0, 1.6, 1.8, 1.7, 1.5),  # 00-11 UTC
        *(1.3, 1.6, 1.7, 1.6, 1.2, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15),  # 12-23 UTC
    ]
)
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_LATEST_END = 120  # finished calls ended at least this many seconds before the anchor


def _rng(seed: int, stream: int) -> np.random.Generator:
    # Independent streams, so the credentials do not depend on how many calls are generated.
    return np.random.default_rng([seed, stream])


def _uuid_bodies(rng: np.random.Generator, n: int) -> list[str]:
    """Make ``n`` random version-4 UUID strings (lowercase hex with dashes)."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16)
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = _HEX[raw >> 4]
    hexed[:, 1::2] = _HEX[raw & 15]
    hexed[:, 12] = ord("4")  # version 4
    hexed[:, 16] = _HEX[8 + (raw[:, 8] >> 4 & 3)]  # RFC 4122 variant: 8, 9, a or b
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for dst, src in ((0, 0), (9, 8), (14, 12), (19, 16), (24, 20)):
        width = 12 if dst == 24 else (8 if dst == 0 else 4)
        out[:, dst : dst + width] = hexed[:, src : src + width]
    text = out.tobytes().decode("ascii")
    return [text[i : i + 36] for i in range(0, 36 * n, 36)]


#: Bump whenever the generator changes what a (seed, calls, anchor) produces: it is part of the
#: account SID, so call stores filled by an older generator are not served for the new data.
DATA_VERSION = 3


def credentials(seed: int, calls: int, anchor: int, *, fraud_burst: bool = True) -> tuple[str, str]:
    """Return the (account SID, auth token) the sandbox derives from its data's parameters.

    The account SID names the data: two sandboxes share it only when they serve the same calls
    (same parameters and same :data:`DATA_VERSION`), so a local call store keyed by
    (account, call) never mixes two different sandboxes' calls.
    """
    key = [seed, 1, calls, anchor, DATA_VERSION, int(fraud_burst)]
    account_sid = "acc" + _uuid_bodies(np.random.default_rng(key), 1)[0]
    return account_sid, _rng(seed, 1).bytes(16).hex()


def format_rfc2822(ts: np.ndarray) -> list[str]:
    """Format epoch seconds as the vendor's dates, e.g. ``Fri, 21 Apr 2017 13:01:25 +0000``."""
    sec = np.asarray(ts, dtype="int64")
    days = sec // 86400
    # A history spans a few dozen days: format each day once, and each time of day from a table.
    uniq, day_idx = np.unique(days, return_inverse=True)
    d64 = uniq.astype("datetime64[D]")
    months = d64.astype("datetime64[M]")
    day_text = [
        f"{_DAYS[w]}, {d:02d} {_MONTHS[m]} {y} "
        for w, d, m, y in zip(
            ((uniq + 3) % 7).tolist(),  # 1970-01-01 was a Thursday
            ((d64 - months).astype("int64") + 1).tolist(),
            (months.astype("int64") % 12).tolist(),
            (d64.astype("datetime64[Y]").astype("int64") + 1970).tolist(),
            strict=True,
        )
    ]
    clock = _clock_table()
    return [
        day_text[d] + clock[t]
        for d, t in zip(day_idx.ravel().tolist(), (sec - days * 86400).tolist(), strict=True)
    ]


@functools.cache
def _clock_table() -> list[str]:
    """Return ``"HH:MM:SS +0000"`` for every second of a day."""
    return [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d} +0000" for s in range(86400)]


def _q(text: str) -> str:
    """Quote a generated ASCII string as a JSON string (nothing in it needs escaping)."""
    return '"' + text + '"'


def _rfc(ts: int) -> str:
    """Format one epoch second as an RFC 2822 date (see :func:`format_rfc2822`)."""
    return format_rfc2822(np.array([ts]))[0]


def _numbers(rng: np.random.Generator, prefixes: list[tuple[str, int]]) -> list[str]:
    """Append random subscriber digits to each ``(prefix, digits)``: almost surely distinct."""
    draws = rng.random(len(prefixes)).tolist()
    return [f"{p}{int(u * 10**k):0{k}d}" for (p, k), u in zip(prefixes, draws, strict=True)]


@dataclass(frozen=True)
class CallFilter:
    """History filters, already validated; ``None`` means "any"."""

    status: frozenset[str] | None = None
    direction: str | None = None
    channel: str | None = None
    tag: str | None = None
    from_: str | None = None
    to: str | None = None
    created_from: int | None = None  # epoch seconds, inclusive
    created_before: int | None = None  # epoch seconds, exclusive


@dataclass(eq=False)
class _Live:
    """Lifecycle plan of the calls in progress at the anchor (one entry per live call)."""

    rows: np.ndarray  # row in the account table
    t: np.ndarray  # (n, 6) int64: initiated, ringing, answered, modified, ended, priced
    price: np.ndarray  # EUR once priced
    record_sid: list[str | None]
    static: list[dict[str, Any]]  # the fields fixed at creation


@dataclass(eq=False)
class Account:
    """The sandbox's account: calls newest first, with columns for filtering."""

    account_sid: str
    auth_token: str
    anchor: int
    call_sids: list[str]
    created: np.ndarray  # int64 epoch seconds
    status: np.ndarray  # int8 status code; the live rows hold their code at the anchor
    direction: np.ndarray  # int8 index into DIRECTIONS
    channel: np.ndarray  # int8 index into CHANNELS
    tag: np.ndarray  # str ("" for null)
    from_: np.ndarray  # str
    to: np.ndarray  # str
    call_json: list[bytes | None]  # serialised call, None for live rows
    example_call_sid: str
    recordings: list[dict[str, Any]]  # newest first; rec_url is filled in by the server
    live: _Live
    index: dict[str, int] = field(default_factory=dict)
    live_pos: dict[int, int] = field(default_factory=dict)
    recording_index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {sid: i for i, sid in enumerate(self.call_sids)}
        self.live_pos = {int(r): j for j, r in enumerate(self.live.rows.tolist())}
        self.recording_index = {r["record_sid"]: i for i, r in enumerate(self.recordings)}

    def account_record(self) -> dict[str, Any]:
        """Return the account object (it includes the token, as the real API does)."""
        return {
            "account_sid": self.account_sid,
            "name": "Sandbox account",
            "status": "active",
            "token": self.auth_token,
            "created": "Mon, 03 Apr 2017 09:12:44 +0000",
            "updated": _rfc(self.anchor - 86400 * 3),
            "type": "master",
        }

    def call_bytes(self, row: int, now: float) -> bytes:
        """Return the JSON bytes of the call at ``row`` as seen at clock time ``now``."""
        body = self.call_json[row]
        if body is not None:
            return body
        return json.dumps(self.call_record(row, now), separators=(",", ":")).encode()

    def call_record(self, row: int, now: float) -> dict[str, Any]:
        """Return the call at ``row`` as a dict, as seen at clock time ``now``."""
        body = self.call_json[row]
        if body is not None:
            return dict(json.loads(body))
        j = self.live_pos[row]
        initiated, ringing, answered, modified, ended, priced = self.live.t[j].tolist()
        code = int(_live_codes(self.live.t[j : j + 1], now)[0])
        rec = dict(self.live.static[j])
        created = int(self.created[row])
        changes = [created, initiated, ringing, answered, ended, priced]
        if modified < ended:
            changes.append(modified)
        rec["status"] = STATUSES[code]
        if code == _S["completed"]:
            rec.update(started=_rfc(answered), ended=_rfc(ended), duration=ended - created)
            if now >= priced:
                rec.update(price=float(self.live.price[j]), record_sid=self.live.record_sid[j])
        rec["updated"] = _rfc(max(x for x in changes if x <= max(now, created)))
        return {k: rec[k] for k in _FIELDS}

    def status_codes(self, now: float) -> np.ndarray:
        """Return every call's status code at clock time ``now``."""
        codes = self.status.copy()
        if len(self.live.rows):
            codes[self.live.rows] = _live_codes(self.live.t, now)
        return codes

    def select(self, flt: CallFilter, now: float) -> np.ndarray:
        """Return the rows (newest first) of the calls that match ``flt`` at time ``now``."""
        mask = np.ones(len(self.call_sids), dtype=bool)
        if flt.status is not None:
            wanted = [_S[s] for s in flt.status if s in _S]
            mask &= np.isin(self.status_codes(now), wanted)
        for value, names, column in (
            (flt.direction, DIRECTIONS, self.direction),
            (flt.channel, CHANNELS, self.channel),
        ):
            if value is not None:
                mask &= column == (names.index(value) if value in names else -1)
        for text, column in ((flt.tag, self.tag), (flt.from_, self.from_), (flt.to, self.to)):
            if text is not None:
                mask &= column == text
        if flt.created_from is not None:
            mask &= self.created >= flt.created_from
        if flt.created_before is not None:
            mask &= self.created < flt.created_before
        return np.flatnonzero(mask)


def _live_codes(t: np.ndarray, now: float) -> np.ndarray:
    """Status codes of live calls at ``now`` from their plan (see :class:`_Live`)."""
    codes = np.full(len(t), _S["queued"], dtype=np.int8)
    codes[now >= t[:, 0]] = _S["initiated"]
    codes[now >= t[:, 1]] = _S["ringing"]
    codes[now >= t[:, 2]] = _S["answered"]
    codes[now >= t[:, 3]] = _S["modified"]
    codes[now >= t[:, 4]] = _S["completed"]
    return codes
