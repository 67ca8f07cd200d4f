"""Synthetic stores for the store benchmarks: the sandbox's generator, without HTTP.

:func:`stored_table` asks :func:`apifonica_nb.sandbox.generate.generate_account` for an account,
parses its calls with :func:`apifonica_nb.calls_to_frame` (keeping the settled ones, as the
store does) and, for sizes past one generated account, repeats it in tiles: each tile gets
fresh call SIDs and is shifted 30 days further back, so the calls spread over the months as a
busy account's would. :func:`chunks` yields such tiles one at a time (for the 10M-call store).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import apifonica_nb as ap
from apifonica_nb.cache import frame_to_file_table, settled_mask
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
