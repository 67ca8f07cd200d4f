"""apifonica_nb: investigate Apifonica call records in Jupyter.

Fetch calls into typed pandas DataFrames, chart them with plotly, explore them with an
ipywidgets form, and run it all offline against a bundled sandbox of the API::

    import apifonica_nb as ap

    client = ap.connect()  # real API if APIFONICA_* is set, else a seeded sandbox
    df = ap.fetch_history(client=client, since="2026-10-01")
"""

from __future__ import annotations

import importlib
from typing import Any

from . import cache, charts, errors, summary
from .client import Client
from .connect import connect
from .fetch import (
    call_family,
    fetch_call,
    fetch_calls,
    fetch_history,
    fetch_recording_audio,
    fetch_recordings,
    watch_call,
)
from .frame import CALL_DTYPES, calls_to_frame, recordings_to_frame
from .reporting import report
from .summary import concurrency, cost_anomalies, kpis

__version__ = "0.1.0"

__all__ = [
    "CALL_DTYPES",
    "Client",
    "__version__",
    "cache",
    "call_family",
    "calls_to_frame",
    "charts",
    "concurrency",
    "connect",
    "cost_anomalies",
    "errors",
    "fetch_call",
    "fetch_calls",
    "fetch_history",
    "fetch_recording_audio",
    "fetch_recordings",
    "kpis",
    "recordings_to_frame",
    "report",
    "sandbox",
    "summary",
    "watch_call",
    "widgets",
]

# Submodules that pull in heavier dependencies load on first use (ap.sandbox, ap.widgets, ...).
_LAZY_MODULES = {"sandbox", "widgets"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'apifonica_nb' has no attribute {name!r}")
