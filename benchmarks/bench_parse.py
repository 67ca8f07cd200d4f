"""Time calls_to_frame against the naive pandas baseline on realistic synthetic call records.

Usage::

    python benchmarks/bench_parse.py            # 200k and 1M records
    python benchmarks/bench_parse.py --quick    # 20k records, a smoke run
    python benchmarks/bench_parse.py --sizes 50000 --runs 3

The baseline is what a notebook would write first: ``pd.DataFrame(records)`` and
``pd.to_datetime(col, format="%a, %d %b %Y %H:%M:%S %z", utc=True)`` on the four date
columns (no derived columns, no validation). Both are measured in the same run on the same
records. Records are generated here (no sandbox needed): about a dozen countries, nearly
unique phone numbers, a lifecycle mix of statuses, a few percent null fields, and JSON
round-tripped in pages of 20 so that they are laid out in memory as real API pages are.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import gc
import json
import os
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apifonica_nb.frame import calls_to_frame

DATE_FORMAT = "%a, %d %b %Y %H:%M:%S %z"
DATE_FIELDS = ("created", "updated", "started", "ended")

# (country code, national prefixes, digits after the prefix, EUR per minute)
COUNTRIES: list[tuple[str, tuple[str, ...], int, float]] = [
    ("1", ("201", "212", "305", "415", "617", "646", "702"), 7, 0.010),  # US
    ("1", ("416", "514", "604"), 7, 0.012),  # CA
    ("44", ("74", "75", "77", "78", "79", "20"), 8, 0.030),  # GB
    ("49", ("151", "160", "170", "30"), 8, 0.035),  # DE
    ("33", ("6", "7", "1"), 8, 0.040),  # FR
    ("31", ("6", "20"), 7, 0.098),  # NL
    ("358", ("40", "50", "9"), 7, 0.060),  # FI
    ("46", ("70", "73", "8"), 7, 0.045),  # SE
    ("34", ("6", "91"), 7, 0.030),  # ES
    ("39", ("33", "34", "06"), 8, 0.040),  # IT
    ("61", ("4", "2"), 8, 0.080),  # AU
    ("81", ("90", "80", "3"), 8, 0.110),  # JP
    ("55", ("119", "219"), 8, 0.070),  # BR
]
STATUS_MIX = [
    ("completed", 70),
    ("no_answer", 9),
    ("busy", 5),
    ("failed", 4),
    ("canceled", 3),
    ("rejected", 2),
    ("queued", 2),
    ("ringing", 2),
    ("answered", 3),
]
TAGS = [f"client_{i}" for i in range(12)]


def _rfc2822(stamp: dt.datetime, cache: dict[dt.date, str]) -> str:
    day = stamp.date()
    head = cache.get(day)
    if head is None:
        head = cache[day] = stamp.strftime("%a, %d %b %Y ")
    return f"{head}{stamp.hour:02d}:{stamp.minute:02d}:{stamp.second:02d} +0000"


def make_records(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Build ``n`` realistic call records as the API would send them (JSON round-tripped)."""
    rng = random.Random(seed)
    account = f"acc{rng.getrandbits(128):032x}"[:39]
    apps = [f"http://apifonica.com/voicexml/getxml?xml_variant=app_{i}" for i in range(5)]
    own_numbers = [
        (
            f"358{rng.choice(('9', '40'))}{rng.randrange(10**7):07d}",
            f"num{rng.getrandbits(128):032x}",
        )
        for _ in range(20)
    ]
    statuses = [s for s, w in STATUS_MIX for _ in range(w)]
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    cache: dict[dt.date, str] = {}
    records: list[dict[str, Any]] = []
    for _ in range(n):
        cc, prefixes, rest, per_minute = rng.choice(COUNTRIES)
        remote = cc + rng.choice(prefixes) + f"{rng.randrange(10**rest):0{rest}d}"
        own, number_sid = rng.choice(own_numbers)
        outbound = rng.random() < 0.7
        status = rng.choice(statuses)
        created = start + dt.timedelta(seconds=rng.randrange(90 * 86400))
        setup = rng.randrange(3, 30)
        talk = rng.randrange(1, 900)
        final = status not in ("queued", "ringing", "answered")
        answered = status in ("completed", "answered")
        started = created + dt.timedelta(seconds=setup) if answered else None
        ended = started + dt.timedelta(seconds=talk) if started and final else None
        duration = setup + talk if ended else (setup if final else None)
        price = round(per_minute * (talk / 60), 4) if ended and rng.random() > 0.02 else None
        last = ended or started or created
        records.append(
            {
                "call_sid": f"cal{rng.getrandbits(128):032x}"[:39],
                "parent_call_sid": f"cal{rng.getrandbits(128):032x}"[:39]
                if rng.random() < 0.1
                else None,
                "created": _rfc2822(created, cache),
                "account_sid": account,
                "from": own if outbound else remote,
                "to": remote if outbound else own,
                "direction": "outbound" if outbound else "inbound",
                "status": status,
                "controller": rng.choice(apps),
                "method": rng.choice(("GET", "POST")),
                "timeout": rng.choice((15, 30, 60)),
                "updated": _rfc2822(last + dt.timedelta(seconds=rng.randrange(5)), cache),
                "started": _rfc2822(started, cache) if started else None,
                "ended": _rfc2822(ended, cache) if ended else None,
                "duration": duration,
                "price": price,
                "record_sid": f"rec{rng.getrandbits(128):032x}"[:39]
                if ended and rng.random() < 0.4
                else None,
                "tag": rng.choice(TAGS) if rng.random() < 0.8 else None,
                "channel": "viber" if rng.random() < 0.1 else "number",
                "number_sid": number_sid,
            }
        )
    # A few percent of nulls where the API could omit a value.
    for record in records:
        if rng.random() < 0.03:
            record[rng.choice(("tag", "controller", "timeout", "number_sid"))] = None
    pages = [json.dumps(records[i : i + 20]) for i in range(0, n, 20)]
    return [r for page in pages for r in json.loads(page)]


def baseline(records: list[dict[str, Any]]) -> pd.DataFrame:
    """What a notebook would write first: one DataFrame, then the four date columns."""
    df = pd.DataFrame(records)
    for name in DATE_FIELDS:
        df[name] = pd.to_datetime(df[name], format=DATE_FORMAT, utc=True)
    return df


def median_time(func: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall and CPU time of ``runs`` calls (garbage collected between runs only).

    The CPU time (this process only) says more than the wall time on a shared machine,
    where other processes take turns on the cores.
    """
    wall, cpu = [], []
    for _ in range(runs):
        gc.collect()
        gc.disable()
        try:
            w0, c0 = time.perf_counter(), time.process_time()
            func()
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        finally:
            gc.enable()
    return statistics.median(wall), statistics.median(cpu)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k records only")
    parser.add_argument("--sizes", type=int, nargs="*", help="record counts to time")
    parser.add_argument("--runs", type=int, help="runs per measurement (default 5, 3 at 1M+)")
    parser.add_argument("--skip-baseline", action="store_true", help="time calls_to_frame only")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([20_000] if args.quick else [200_000, 1_000_000])

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"os.cpu_count() = {os.cpu_count()}, load average {load}, pandas {pd.__version__}")
    print("times are medians; 'cpu' columns count this process's CPU time only")
    columns = ["N", "baseline s", "calls_to_frame s", "ratio", "rows/s", "B/call"]
    columns += ["baseline cpu s", "ctf cpu s", "cpu ratio"]
    widths = (9, 11, 17, 6, 10, 7, 15, 10, 10)
    header = " ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
    print(header)
    print("-" * len(header))
    for n in sizes:
        records = make_records(n)
        runs = args.runs or (3 if n >= 1_000_000 else 5)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # realistic records must not warn
            df = calls_to_frame(records)
        fast, fast_cpu = median_time(functools.partial(calls_to_frame, records), runs)
        base = base_cpu = float("nan")
        if not args.skip_baseline:
            base, base_cpu = median_time(functools.partial(baseline, records), runs)
        per_call = df.memory_usage(deep=True).sum() / n
        cells = [f"{n:,}", f"{base:.2f}", f"{fast:.2f}", f"{base / fast:.1f}", f"{n / fast:,.0f}"]
        cells += [f"{per_call:.0f}", f"{base_cpu:.2f}", f"{fast_cpu:.2f}"]
        cells.append(f"{base_cpu / fast_cpu:.1f}")
        print(" ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)), flush=True)
        del records, df
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at the end: {load}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
