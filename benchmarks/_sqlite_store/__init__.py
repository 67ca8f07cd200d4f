"""The previous version's call store (one SQLite file), kept here only to benchmark against.

A verbatim copy of ``apifonica_nb/cache/`` at commit f826d4e (its imports made absolute), so
``bench_store.py`` measures today's Parquet store and yesterday's SQLite store in the same run.
"""

from ._store import CallStore

__all__ = ["CallStore"]
