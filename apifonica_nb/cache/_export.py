"""Export a call frame in the store's layout: ``apifonica-nb fetch --out DIR/``.

The folder gets what the store's folder holds for one account (``account=…/month=…/part-…
.parquet``, the same columns), for every row of the frame, settled or not, so a data lake or
an engine ingests it as it is. A previous export to the same folder is replaced.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc

from ..frame import CALL_DTYPES
from ._files import account_dir, months, part_files, partition_folders, remove_part, write_part
from ._layout import frame_to_file_table


def write_dataset(
    df: pd.DataFrame, path: str | os.PathLike[str], *, account_sid: str
) -> list[Path]:
    """Write a typed call frame as a Hive-partitioned Parquet dataset; return the files.

    ``path`` is a folder (created if needed); the files go under ``account=<account_sid>/
    month=<YYYY-MM>/``. Files of an earlier export to the folder are removed once the new ones
    are in place.

    >>> ap.cache.write_dataset(df, "lake/calls", account_sid=client.account_sid)
    """
    root = Path(path)
    before = part_files(partition_folders(root))
    extra_cols = [c for c in df.columns if c not in CALL_DTYPES]
    extras = None
    if extra_cols:
        rows = df[extra_cols].astype(object).where(df[extra_cols].notna(), None)
        extras = [
            json.dumps({k: v for k, v in r.items() if v is not None}, default=str) or None
            for r in rows.to_dict("records")
        ]
    table = frame_to_file_table(
        df.reset_index(drop=True)[list(CALL_DTYPES)],
        extras=extras,
        tie_ranks=None,
        stored_at_us=time.time_ns() // 1000,
    )
    base = account_dir(root, account_sid)
    month = months(table)
    written = [
        write_part(base / f"month={value}", table.filter(pc.equal(month, value)))
        for value in pc.unique(month).to_pylist()
    ]
    for old in before:
        remove_part(old)
    return written
