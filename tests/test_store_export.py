"""``apifonica-nb fetch --out DIR/`` writes the store's partitioned layout; files keep working."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds
import pytest

import apifonica_nb as ap
from apifonica_nb.cli import main
from apifonica_nb.connect import DEMO_NOW

ARGS = ["fetch", "--sandbox", "--calls", "150", "--seed", "4"]


@pytest.fixture(scope="module")
def expected() -> pd.DataFrame:
    with ap.sandbox.running(calls=150, seed=4, now=DEMO_NOW) as sb:
        df = ap.fetch_history(client=sb.client(), progress=False, cache=False)
        df.attrs["account_sid"] = sb.account_sid
    return df


def read_dataset(root: Path) -> pd.DataFrame:
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    return table.to_pandas()


def test_fetch_out_dir_writes_the_partitioned_dataset(
    tmp_path: Path, expected: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lake" / "calls"
    assert main([*ARGS, "--out", f"{out}/"]) == 0
    assert "Parquet files under" in capsys.readouterr().err
    files = sorted(out.rglob("*.parquet"))
    account = expected.attrs["account_sid"]
    assert files and all(f.relative_to(out).parts[0] == f"account={account}" for f in files)
    months = {f.parent.name for f in files}
    assert months == {f"month={m}" for m in expected["created"].dt.strftime("%Y-%m").unique()}
    back = read_dataset(out)
    assert len(back) == len(expected)  # every call, settled or not, once
    assert sorted(back["call_sid"]) == sorted(expected["call_sid"])
    merged = back.set_index("call_sid").loc[expected["call_sid"]]
    assert merged["status"].astype(str).tolist() == expected["status"].astype(str).tolist()
    assert merged["price"].fillna(-1).tolist() == expected["price"].fillna(-1).tolist()
    # The same folder again: replaced, not doubled.
    assert main([*ARGS, "--out", f"{out}/"]) == 0
    assert len(read_dataset(out)) == len(expected)


def test_fetch_out_file_still_writes_parquet_and_csv(
    tmp_path: Path, expected: pd.DataFrame
) -> None:
    for name in ("calls.parquet", "calls.csv"):
        out = tmp_path / name
        assert main([*ARGS, "--out", str(out)]) == 0
        back = pd.read_parquet(out) if name.endswith("parquet") else pd.read_csv(out)
        assert back["call_sid"].tolist() == expected["call_sid"].tolist()


def test_fetch_out_of_another_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="DIR/"):
        main([*ARGS, "--out", str(tmp_path / "calls.xlsx")])


def test_write_dataset_keeps_undocumented_fields(tmp_path: Path, sandbox: Any) -> None:
    records = [dict(r, region="eu") for r in list(sandbox.client().iter_calls())[:30]]
    df = ap.calls_to_frame(records)
    files = ap.cache.write_dataset(df, tmp_path / "x", account_sid="acc1")
    back = read_dataset(tmp_path / "x")
    assert len(files) >= 1 and len(back) == 30
    assert set(back["extra"]) == {'{"region": "eu"}'}
