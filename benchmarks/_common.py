"""Shared pieces of the benchmark scripts: timing, medians, the table, a sandbox process.

Imported by ``benchmarks/bench_*.py`` as ``import _common`` (the scripts' own folder is first
on ``sys.path`` when run as ``python benchmarks/NAME.py``). Importing it also puts the
repository root on ``sys.path``, so the scripts run from a checkout without installing.
It imports nothing heavy at module level: ``bench_sandbox`` spawns client processes that
import their script, and they should start fast.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from apifonica_nb.sandbox import Sandbox

T = TypeVar("T")

#: The sandbox's frozen clock (apifonica_nb.connect.DEMO_NOW), so every run sees the same data.
NOW = "2026-11-01T12:00:00+00:00"


def parser(doc: str | None) -> argparse.ArgumentParser:
    """Return an argument parser described by the script's docstring, with ``--quick``."""
    text = doc or ""
    p = argparse.ArgumentParser(
        description=text.splitlines()[0] if text else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(text.splitlines()[1:]),
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes, one or two runs (a smoke run)")
    return p


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """Return the wall seconds ``fn()`` took, and its result."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def median_of(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    """Run ``fn`` ``runs`` times; return the median wall seconds and the last result."""
    seconds: list[float] = []
    result: Any = None
    for _ in range(max(1, runs)):
        took, result = timed(fn)
        seconds.append(took)
    return statistics.median(seconds), result


def machine() -> str:
    """One line about the machine: CPU count, load, versions (the table's context)."""
    import pandas as pd

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"os.cpu_count() = {os.cpu_count()}, load average {load}, "
        f"python {sys.version.split()[0]}, pandas {pd.__version__}"
    )


def ratio(baseline: float, ours: float) -> str:
    """Format how many times faster ``ours`` is than ``baseline`` (both in seconds)."""
    return f"{baseline / ours:.1f}x" if ours > 0 else "inf"


_NUMBER = re.compile(r"[-+]?[\d,.]+(x|%|/[\d,.]+)?|n/a|inf|")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print ``rows`` under ``columns``: numbers right-aligned, text left-aligned."""
    cells = [[str(c) for c in columns], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    text = [any(not _NUMBER.fullmatch(r[i]) for r in cells[1:]) for i in range(len(columns))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if left else c.rjust(w) for c, w, left in zip(row, widths, text, strict=True)
        ).rstrip()

    print(f"\n{title}")
    print(line(cells[0]))
    print(line(["-" * w for w in widths]))
    for row in cells[1:]:
        print(line(row))
    sys.stdout.flush()


@contextmanager
def sandbox_process(calls: int, *, seed: int = 7, latency: float = 0.0) -> Iterator[Sandbox]:
    """Serve a seeded sandbox from its own process (so client and server do not share a GIL)."""
    import apifonica_nb as ap

    with ap.sandbox.running(
        calls=calls, seed=seed, latency=latency, now=NOW, process=True
    ) as sandbox:
        yield sandbox


@contextmanager
def own_cache_dir() -> Iterator[str]:
    """Point the call store at a temporary folder for the block (the user's is untouched)."""
    key = "APIFONICA_NB_CACHE_DIR"
    before = os.environ.get(key)
    with tempfile.TemporaryDirectory(prefix="apifonica-bench-") as folder:
        os.environ[key] = folder
        try:
            yield folder
        finally:
            if before is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = before
