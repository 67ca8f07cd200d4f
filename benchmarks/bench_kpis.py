"""Time ap.kpis, ap.concurrency and ap.cost_anomalies on a million calls, against plain pandas.

Usage::

    python benchmarks/bench_kpis.py              # 1,000,000 calls over a month
    python benchmarks/bench_kpis.py --quick      # 20,000 calls, a smoke run
    python benchmarks/bench_kpis.py --calls 200000 --runs 5

The frame is synthetic but typed as ``calls_to_frame`` makes it (categorical statuses and
channels, ``str`` countries, UTC datetimes, nullable numbers), with the sandbox's mix of
outcomes over 30 days and 12 countries (building it through the sandbox would take minutes).
Targets (issue 15): kpis(by="destination_country", freq="D") <= 1 s, concurrency(freq="min")
over the month <= 2 s, cost_anomalies <= 1 s.

The baselines are the plain pandas a notebook would write, measured in the same run on the same
frame, and checked to give the same numbers ("same" column): ``groupby().agg`` with named
aggregations (a lambda for the 90th percentile) for the KPIs; one row per call and minute
(``index.repeat``) then ``groupby`` for calls in progress and Erlangs, and a +1/-1 event
``cumsum`` for the peaks; ``groupby`` + ``unstack`` + ``rolling`` (``apply`` for the MAD) for
the anomaly baseline. Medians over ``--runs`` runs; the machine is shared, so ratios are rough.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from _common import machine, median_of, parser, print_table, ratio

import apifonica_nb as ap

COUNTRIES = ("FI", "NL", "DE", "GB", "US", "FR", "ES", "IT", "SE", "PL", "LV", "EE")
START = pd.Timestamp("2026-10-01", tz="UTC")


def make_frame(n: int, seed: int = 7) -> pd.DataFrame:
    """``n`` typed calls over 30 days, the sandbox's mix of outcomes, a few still in progress."""
    rng = np.random.default_rng(seed)
    statuses = ["completed", "no_answer", "busy", "failed", "rejected", "canceled", "ringing"]
    status = rng.choice(statuses, size=n, p=[0.685, 0.13, 0.065, 0.045, 0.035, 0.035, 0.005])
    created = START + pd.to_timedelta(rng.integers(0, 30 * 86400, size=n), unit="s")
    setup = rng.integers(2, 30, size=n).astype(float)
    talk = np.clip(rng.lognormal(np.log(70), 0.95, size=n), 1, 7200).round()
    answered = status == "completed"
    final = status != "ringing"
    started = pd.Series(created + pd.to_timedelta(setup, unit="s")).where(answered)
    ended_at = np.where(answered, setup + talk, setup)
    ended = pd.Series(created + pd.to_timedelta(ended_at, unit="s")).where(final)
    country = rng.choice(len(COUNTRIES), size=n)
    rate = np.linspace(0.02, 0.24, len(COUNTRIES))[country]
    duration = np.where(answered, setup + talk, 0)
    df = pd.DataFrame(
        {
            "status": pd.Categorical(status, categories=list(ap.CALL_DTYPES["status"].categories)),  # type: ignore[attr-defined]
            "channel": pd.Categorical(np.where(rng.random(n) < 0.15, "viber", "number")),
            "destination_country": pd.array(np.array(COUNTRIES)[country], dtype="str"),
            "created": pd.Series(created).astype("datetime64[us, UTC]"),
            "started": started.astype("datetime64[us, UTC]"),
            "ended": ended.astype("datetime64[us, UTC]"),
            "updated": pd.Series(created + pd.to_timedelta(ended_at + 30, unit="s")).astype(
                "datetime64[us, UTC]"
            ),
            "setup_seconds": pd.array(np.where(answered, setup, np.nan), dtype="Float64"),
            "talk_seconds": pd.array(np.where(answered, talk, np.nan), dtype="Float64"),
            "duration": pd.array(np.where(final, duration, -1), dtype="Int64"),
            "cost_eur": pd.array(
                np.where(final, np.round(rate * duration / 60, 4), np.nan), dtype="Float64"
            ),
            "is_final": pd.array(final, dtype="boolean"),
        }
    )
    df.loc[~final, "duration"] = pd.NA
    return df


# ------------------------------------------------------------------------- the baselines


def kpis_pandas(df: pd.DataFrame) -> pd.DataFrame:
    status = df["status"].astype("str")
    final = df["is_final"].fillna(False)
    answered = final & (status == "completed")
    rows = pd.DataFrame(
        {
            "destination_country": df["destination_country"].fillna("unknown"),
            "day": df["created"].dt.floor("D"),
            "attempt": final,
            "answered": answered,
            "failed": status == "failed",
            "talk": df["talk_seconds"].where(answered),
            "setup": df["setup_seconds"].where(answered),
            "cost": df["cost_eur"],
            "billed": df["duration"],
        }
    )
    out = rows.groupby(["destination_country", "day"]).agg(
        calls=("attempt", "size"),
        attempts=("attempt", "sum"),
        answered=("answered", "sum"),
        failed=("failed", "sum"),
        acd_talk_s=("talk", "mean"),
        tta_median_s=("setup", "median"),
        tta_p90_s=("setup", lambda s: s.quantile(0.9)),
        cost_eur=("cost", "sum"),
        billed=("billed", "sum"),
    )
    out["asr"] = out["answered"] / out["attempts"]
    out["ner"] = (out["attempts"] - out["failed"]) / out["attempts"]
    return out.reset_index()


def concurrency_pandas(df: pd.DataFrame) -> pd.DataFrame:
    calls = df.loc[df["started"].notna()]
    start = calls["started"]
    end = calls["ended"].fillna(calls["updated"])
    first = start.dt.floor("min")
    minutes = ((end - pd.Timedelta(1, "us")).dt.floor("min") - first) // pd.Timedelta(minutes=1) + 1
    rows = calls.index.repeat(minutes.to_numpy())
    bucket = (
        first.loc[rows]
        + pd.to_timedelta(
            pd.Series(np.ones(len(rows), dtype=np.int64)).groupby(rows).cumsum().to_numpy() - 1,
            unit="min",
        ).to_numpy()
    )
    lo = np.maximum(start.loc[rows].to_numpy(), bucket.to_numpy())
    hi = np.minimum(end.loc[rows].to_numpy(), (bucket + pd.Timedelta(minutes=1)).to_numpy())
    seconds = ((hi - lo) / np.timedelta64(1, "s")).astype(float)
    per_minute = (
        pd.DataFrame({"period": bucket.to_numpy(), "seconds": seconds})
        .groupby("period")
        .agg(calls=("seconds", "size"), busy=("seconds", "sum"))
    )
    events = pd.concat([pd.Series(1, index=start), pd.Series(-1, index=end)])
    events = (
        events.sort_index(kind="stable").groupby(level=0).sum()
    )  # ends and starts at one time net
    level = events.cumsum()
    peak = level.groupby(level.index.floor("min")).max()
    opening = level.asof(per_minute.index).fillna(0)  # in progress as the minute starts
    per_minute["peak"] = np.maximum(
        peak.reindex(per_minute.index).fillna(0).to_numpy(), opening.to_numpy()
    ).astype(np.int64)
    per_minute["erlangs"] = per_minute["busy"].astype(float) / 60
    return per_minute.reset_index()


def anomalies_pandas(df: pd.DataFrame) -> pd.DataFrame:
    priced = df.loc[df["cost_eur"].notna()]
    daily = (
        priced.groupby(["destination_country", priced["created"].dt.floor("D")])["cost_eur"]
        .sum()
        .unstack(fill_value=0.0)
        .astype(float)
    )
    history = daily.T.shift(1).rolling(14, min_periods=7)
    median = history.median()
    mad = history.apply(lambda w: np.median(np.abs(w - np.median(w))), raw=True)
    scale = np.maximum(np.maximum(1.4826 * mad, history.mean()), 10.0 / 5.0)
    score = (daily.T - median) / scale
    flagged = (score >= 5) & (daily.T - median >= 10)
    return flagged.stack()[lambda s: s].reset_index()


# ------------------------------------------------------------------------- the run


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--calls", type=int, default=1_000_000, help="calls in the frame")
    p.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    args = p.parse_args(argv)
    calls = 20_000 if args.quick else args.calls
    runs = 1 if args.quick else args.runs
    print(machine())
    df = make_frame(calls)
    # A spike to flag, so both sides have something to find.
    spike = df.index[(df["destination_country"] == "EE") & (df["created"].dt.day == 25)]
    df.loc[spike, "cost_eur"] = df.loc[spike, "cost_eur"] * 40

    rows = []
    ours_s, ours = median_of(lambda: ap.kpis(df, by="destination_country", freq="D"), runs)
    base_s, base = median_of(lambda: kpis_pandas(df), runs)
    same = np.allclose(ours["asr"].to_numpy(dtype=float), base["asr"].to_numpy(dtype=float)) and (
        np.allclose(
            ours["tta_p90_s"].to_numpy(dtype=float), base["tta_p90_s"].to_numpy(dtype=float)
        )
    )
    rows.append(
        [
            "kpis(by=country, freq=D)",
            f"{ours_s:.3f}",
            "1.0",
            "groupby().agg",
            f"{base_s:.3f}",
            ratio(base_s, ours_s),
            "yes" if same else "NO",
        ]
    )

    ours_s, ours = median_of(lambda: ap.concurrency(df, freq="min"), runs)
    base_s, base = median_of(lambda: concurrency_pandas(df), 1)  # minutes at 1M: once
    same = (
        ours["calls"].tolist() == base["calls"].tolist()
        and ours["peak"].tolist() == base["peak"].tolist()
        and np.allclose(ours["erlangs"].to_numpy(), base["erlangs"].to_numpy())
    )
    rows.append(
        [
            "concurrency(freq=min), a month",
            f"{ours_s:.3f}",
            "2.0",
            "repeat + groupby",
            f"{base_s:.3f}",
            ratio(base_s, ours_s),
            "yes" if same else "NO",
        ]
    )

    ours_s, ours = median_of(lambda: ap.cost_anomalies(df), runs)
    base_s, base = median_of(lambda: anomalies_pandas(df), runs)
    same = len(ours) == len(base) and set(ours["destination_country"]) == set(
        base["destination_country"]
    )
    rows.append(
        [
            "cost_anomalies(by=country, D)",
            f"{ours_s:.3f}",
            "1.0",
            "unstack + rolling",
            f"{base_s:.3f}",
            ratio(base_s, ours_s),
            "yes" if same else "NO",
        ]
    )
    print_table(
        f"{calls:,} calls over 30 days, median of {runs} runs",
        ["measure", "ours s", "target s", "plain pandas", "pandas s", "ratio", "same"],
        rows,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
