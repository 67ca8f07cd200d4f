"""Synthetic stores for the store benchmarks: the sandbox's generator, without HTTP.

:func:`stored_table` asks :func:`apifonica_nb.sandbox.generate.generate_account` for an account,
parses its calls with :func:`apifonica_nb.calls_to_frame` (keeping the settled ones, as the
store does) and, for sizes past one generated account, repeats it in tiles: each tile gets
fresh call SIDs and is shifted 30 days further back, so the calls spread over the months as a
busy account's would. :func:`chunks` yields such tiles one at a time (for the 10M-call store).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import apifonica_nb as ap
from apifonica_nb.cache import CallStore, frame_to_file_table, settled_mask
from apifonica_nb.sandbox.generate import generate_account

#: 2026-11-01T12:00:00Z, the sandbox's frozen clock.
ANCHOR = 1_793_534_400
_MONTH_US = 30 * 86_400 * 1_000_000


def generated(calls: int, *, seed: int) -> pa.Table:
    """The settled calls of one generated account, as the store's files hold them."""
    account = generate_account(calls=calls, seed=seed, anchor=ANCHOR)
    records = [json.loads(j) for j in account.call_json if j]
    df = ap.calls_to_frame(records)
    df = df[settled_mask(df)].reset_index(drop=True)
    return frame_to_file_table(df, extras=None, tie_ranks=None, stored_at_us=ANCHOR * 10**6)


def _fresh_sids(n: int, rng: np.random.Generator) -> pa.Array:
    hexes = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64)
    return pa.array([f"cal{a:016x}-{b:016x}"[:39] for a, b in hexes.tolist()], pa.string())


def tile(base: pa.Table, index: int, *, seed: int) -> pa.Table:
    """Tile ``index`` of ``base``: fresh SIDs (parents dropped), ``index`` months earlier."""
    if index == 0:
        return base
    rng = np.random.default_rng([seed, index])
    table = base.set_column(0, "call_sid", _fresh_sids(base.num_rows, rng))
    table = table.set_column(1, "parent_call_sid", pa.nulls(base.num_rows, pa.string()))
    shift = pa.scalar(index * _MONTH_US, pa.duration("us"))
    for name in ("created", "updated", "started", "ended"):
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pc.subtract(table.column(name), shift))
    return table


def chunks(total: int, *, chunk: int = 500_000, seed: int = 3) -> Iterator[pa.Table]:
    """Yield ``total`` settled calls in tiles of about ``chunk`` (one generated account)."""
    base = generated(int(chunk / 0.97) + 10, seed=seed).slice(0, chunk)
    done, index = 0, 0
    while done < total:
        part = tile(base, index, seed=seed).slice(0, total - done)
        yield part
        done += part.num_rows
        index += 1


def stored_table(n: int, *, seed: int = 3, chunk: int = 200_000) -> pa.Table:
    """``n`` settled calls as one table (see :func:`chunks`)."""
    return pa.concat_tables(list(chunks(n, chunk=min(chunk, n), seed=seed)))


# -- the store at scale (bench_scale.py): months of a busy contact centre ---------------------

_DAY_S = 86_400
_WINDOW_S = 30 * _DAY_S  # the generator draws its calls over the 30 days before its anchor
_JITTER_S = 600
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UUID_DASHES = (8, 13, 18, 23)


def uuid_sids(n: int, rng: np.random.Generator, prefix: str = "cal") -> pa.Array:
    """``n`` random SIDs shaped as the generator's (``cal`` + a UUID body), built in numpy."""
    nibbles = rng.integers(0, 16, size=(n, 32), dtype=np.uint8)
    body = _HEX[nibbles]
    for at in _UUID_DASHES:  # 8-4-4-4-12
        body = np.insert(body, at, ord("-"), axis=1)
    width = len(prefix) + 36
    chars = np.empty((n, width), dtype=np.uint8)
    chars[:, : len(prefix)] = np.frombuffer(prefix.encode(), dtype=np.uint8)
    chars[:, len(prefix) :] = body
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


def window_base(calls: int, *, seed: int) -> pa.Table:
    """A generated account's settled calls of its 30-day window (the vendor's 2017 example
    call, which the generator appends to every account, is left out: repeated, it would
    stretch every time axis back nine years)."""
    table = generated(calls, seed=seed)
    since = pa.scalar((ANCHOR - _WINDOW_S) * 1_000_000, pa.timestamp("us", tz="UTC"))
    return table.filter(pc.greater_equal(table.column("created"), since))


def _copy(base: pa.Table, window: int, copy: int, *, seed: int) -> pa.Table:
    """One copy of ``base``: fresh SIDs (no parents), ``window`` windows of 30 days earlier,
    and every call moved back by up to ten minutes (its four times together), so copies of
    one window do not start on the same second."""
    rng = np.random.default_rng([seed, window, copy])
    n = base.num_rows
    table = base.set_column(0, "call_sid", uuid_sids(n, rng))
    table = table.set_column(1, "parent_call_sid", pa.nulls(n, pa.string()))
    if "record_sid" in table.schema.names:
        has = pc.is_valid(table.column("record_sid"))
        fresh = uuid_sids(n, rng, prefix="rec")
        i = table.schema.get_field_index("record_sid")
        table = table.set_column(
            i, "record_sid", pc.if_else(has, fresh, pa.scalar(None, pa.string()))
        )
    # Whole seconds, as the API's RFC 2822 times are.
    shift_us = (window * _WINDOW_S + rng.integers(0, _JITTER_S, size=n)) * 1_000_000
    shift = pa.array(shift_us, pa.int64()).cast(pa.duration("us"))
    for name in ("created", "updated", "started", "ended"):
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pc.subtract(table.column(name), shift))
    return table


def _month_of(seconds: int) -> str:
    return time.strftime("%Y-%m", time.gmtime(seconds))


def month_tables(
    total: int, *, per_day: int = 100_000, base_calls: int = 300_000, seed: int = 3
) -> Iterator[pa.Table]:
    """Yield ``total`` settled calls, ``per_day`` a day, one table per calendar month of
    ``created``, newest month first.

    One account of about ``base_calls`` is generated once by the sandbox's generator (its
    mix of statuses, directions, channels, countries, prices, durations, tags, office-hour
    and weekday rhythm, the fraud-burst night); it is then repeated in Arrow: as many copies
    per 30-day window as ``per_day`` needs, window after window further back. Each copy
    has fresh call and recording SIDs and jittered times. A month is yielded once no later
    copy can reach it, so each becomes one file of the store.
    """
    base = window_base(min(base_calls, int(total / 0.96) + 10), seed=seed)
    per_window = max(1, round(per_day * 30 / base.num_rows))
    pending: dict[str, list[pa.Table]] = {}
    done, window = 0, 0
    while done < total:
        for copy in range(per_window):
            if done >= total:
                break
            part = _copy(base, window, copy, seed=seed).slice(0, total - done)
            done += part.num_rows
            month = pc.strftime(part.column("created"), format="%Y-%m")  # as the store does
            for value in pc.unique(month).to_pylist():
                pending.setdefault(value, []).append(part.filter(pc.equal(month, value)))
        # Every later copy lies before this window's lower edge.
        edge = _month_of(ANCHOR - (window + 1) * _WINDOW_S)
        for value in sorted((m for m in pending if m > edge or done >= total), reverse=True):
            yield pa.concat_tables(pending.pop(value)).combine_chunks()
        window += 1


def parquet_glob(root: Path) -> str:
    """The glob of a store's data files (``root`` is the store's ``calls`` folder)."""
    return str(root / "account=*" / "month=*" / "part-*.parquet")


def stored_count(root: Path) -> int:
    """How many rows the store's data files hold (DuckDB reads only their footers)."""
    if not any(root.glob("account=*/month=*/part-*.parquet")):
        return 0
    import duckdb

    literal = "'" + parquet_glob(root).replace("'", "''") + "'"
    with duckdb.connect() as con:
        rows = con.sql(f"SELECT count(*) FROM read_parquet({literal})").fetchall()
    return int(rows[0][0])


@dataclass(frozen=True)
class ScaleStore:
    """A synthetic store made (or found) by :func:`ensure_store`."""

    root: Path
    calls: int
    size_bytes: int
    files: int
    #: How it was made: ``wall_s``, ``cpu_s``, ``load_average`` (at the end), ``when``, and
    #: ``reused`` (True when this call found it made); read back from ``scale-store.json``.
    made: dict[str, object]


def ensure_store(
    cache_dir: Path, total: int, *, per_day: int = 100_000, seed: int = 3
) -> ScaleStore:
    """Make ``cache_dir`` (used as ``APIFONICA_NB_CACHE_DIR``) hold a store of ``total``
    synthetic calls (:func:`month_tables`), written through :meth:`CallStore.put_table`,
    one file a month. A store already holding exactly ``total`` calls is reused; one holding
    another count is cleared first (through the store's own ``clear``)."""
    root = Path(cache_dir) / "calls"
    note = Path(cache_dir) / "scale-store.json"  # beside the dataset: no engine reads it
    made: dict[str, object] = {}
    if stored_count(root) != total:
        wall, cpu = time.perf_counter(), time.process_time()
        with CallStore(root) as store:
            store.clear()
            for table in month_tables(total, per_day=per_day, seed=seed):
                account = table.column("account_sid")[0].as_py()
                store.put_table(account, table)
            store.update_segments(account)
        made = {
            "calls": total,
            "wall_s": round(time.perf_counter() - wall, 1),
            "cpu_s": round(time.process_time() - cpu, 1),
            "load_average": round(os.getloadavg()[0], 1),
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        note.write_text(json.dumps(made))
        made["reused"] = False
    else:
        with contextlib.suppress(OSError, ValueError):
            made = json.loads(note.read_text())
        made["reused"] = True
    files = list(root.rglob("*"))
    return ScaleStore(
        root=root,
        calls=stored_count(root),
        size_bytes=sum(p.stat().st_size for p in files if p.is_file()),
        files=sum(1 for p in files if p.name.startswith("part-")),
        made=made,
    )
