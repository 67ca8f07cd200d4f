"""The sandbox's recordings: the documented recording objects and a short synthetic WAV each.

Fields as ``apifonica-api.md`` lists them: ``record_sid, call_sid, call_created, account_sid,
from, to, number_sid, direction, record_created, size`` (MB), ``price`` (storage, EUR),
``exp_date`` and ``rec_url``. Choices where the vendor is silent:

- ``record_created`` is the recorded call's ``updated`` (the moment its ``record_sid``
  appeared); ``exp_date`` is one year (365 days) later, as in the vendor's example.
- ``rec_url`` is ``{API}/accounts/{sid}/recordings/{recordSID}.wav`` on the sandbox's own
  origin and needs the account's Basic auth like every ``/v2`` route; ``?format=mp3`` on the
  details request makes it ``.mp3``, and the sandbox answers that URL with a 400 saying it
  synthesises WAV only (it has no mp3 encoder).
- the audio is 1.5 s of a two-tone signal (8 kHz, 16-bit mono, made with :mod:`wave`) whose
  pitch derives from the record SID, whatever ``size`` says: enough to hear and to parse.
- the listing is newest first; ``call_sid``, ``date_from`` and ``date_to`` (``YYYY-MM-DD``,
  on ``record_created``, UTC) filter it. Recordings of live calls (seeded ones, or placed with
  ``record=True``) appear once their call is billed, at the head of the listing.
"""

from __future__ import annotations

import email.utils
import hashlib
import io
import threading
import wave
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from apifonica_nb.sandbox.data import Account, format_rfc2822

__all__ = ["AUDIO_SECONDS", "Recordings", "synthetic_wav"]

AUDIO_SECONDS = 1.5
_RATE = 8000
_YEAR = 365 * 86400


def synthetic_wav(record_sid: str, *, seconds: float = AUDIO_SECONDS) -> bytes:
    """Return a short WAV file (8 kHz, 16-bit mono) whose tones derive from ``record_sid``."""
    seed = int.from_bytes(hashlib.sha256(record_sid.encode()).digest()[:4], "big")
    low, high = 300 + seed % 300, 700 + (seed >> 9) % 500
    t = np.arange(int(_RATE * seconds)) / _RATE
    envelope = np.minimum(1.0, np.minimum(t, seconds - t) * 20)  # no clicks at either end
    signal = 0.3 * envelope * (np.sin(2 * np.pi * low * t) + 0.5 * np.sin(2 * np.pi * high * t))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(_RATE)
        wav.writeframes((signal * 32767).astype("<i2").tobytes())
    return out.getvalue()


def _epoch(rfc: str) -> int:
    return int(email.utils.parsedate_to_datetime(rfc).timestamp())


class Recordings:
    """Every recording of the account, in one append-only registry (positions never change).

    ``extra(now)`` returns the call records (dicts) of calls outside the seeded list whose
    recording exists at ``now`` (billed live calls, placed calls); they join the registry the
    first time they are seen.
    """

    def __init__(self, account: Account, *, extra: Callable[[float], Iterable[dict[str, Any]]]):
        self._account = account
        self._extra = extra
        self._lock = threading.Lock()
        self._items: list[dict[str, Any]] = []
        self._index: dict[str, int] = {}
        self._made: list[int] = []  # record_created, epoch seconds, by registry position
        self._calls: list[str] = []  # call_sid by registry position
        self._seeded = 0

    def _record(self, rec: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
        created = _epoch(call["updated"])
        made, expires = format_rfc2822(np.array([created, created + _YEAR]))
        return {
            "record_sid": rec["record_sid"],
            "call_sid": call["call_sid"],
            "call_created": call["created"],
            "account_sid": self._account.account_sid,
            "from": call["from"],
            "to": call["to"],
            "number_sid": call.get("number_sid"),
            "direction": call["direction"],
            "record_created": made,
            "size": rec["size"],
            "price": rec["price"],
            "exp_date": expires,
        }

    def _refresh(self, now: float) -> None:
        """Add what has appeared by ``now`` (the seeded list the first time). Under the lock."""
        acc = self._account
        if not self._items:
            for rec in acc.recordings:
                call = acc.call_record(acc.index[rec["call_sid"]], now)
                self._add(self._record(rec, call))
            self._seeded = len(self._items)
        for call in self._extra(now):
            sid = call.get("record_sid")
            if sid and sid not in self._index:
                talk = max(1, int(call.get("duration") or 1))
                size = round(talk * 16_000 / 1_048_576, 2)
                rec = {"record_sid": sid, "size": size, "price": round(size * 0.0005, 6)}
                self._add(self._record(rec, call))

    def _add(self, item: dict[str, Any]) -> None:
        self._index[item["record_sid"]] = len(self._items)
        self._items.append(item)
        self._made.append(_epoch(item["record_created"]))
        self._calls.append(item["call_sid"])

    def get(self, record_sid: str, now: float) -> dict[str, Any] | None:
        """Return one recording (without ``rec_url``), or None when there is none by ``now``."""
        with self._lock:
            self._refresh(now)
            i = self._index.get(record_sid)
            return None if i is None else dict(self._items[i])

    def rows(
        self, now: float, *, call_sid: str | None, since: int | None, before: int | None
    ) -> np.ndarray:
        """Return the registry positions of the recordings listed at ``now``, newest first."""
        with self._lock:
            self._refresh(now)
            later = np.arange(len(self._items) - 1, self._seeded - 1, -1)
            order = np.concatenate([later, np.arange(self._seeded)]).astype("int64")
            made = np.array(self._made, dtype="int64")[order]
            mask = np.ones(len(order), dtype=bool)
            if call_sid is not None:
                mask &= np.array(self._calls, dtype=object)[order] == call_sid
            if since is not None:
                mask &= made >= since
            if before is not None:
                mask &= made < before
        return order[mask]

    def item(self, position: int) -> dict[str, Any]:
        """Return the recording at a registry position (a copy, without ``rec_url``)."""
        with self._lock:
            return dict(self._items[position])
