"""Where the store lives: ``$APIFONICA_NB_CACHE_DIR`` or the user cache dir, read when used."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the directory of the store (read when the store is opened).
CACHE_DIR_ENV = "APIFONICA_NB_CACHE_DIR"
#: The dataset's folder inside that directory.
DATASET_NAME = "calls"


def cache_path() -> Path:
    """Return the store's dataset folder: ``calls/`` in ``$APIFONICA_NB_CACHE_DIR`` or the
    user cache dir."""
    folder = os.environ.get(CACHE_DIR_ENV)
    if not folder:
        import platformdirs

        folder = platformdirs.user_cache_dir("apifonica_nb")
    return Path(folder).expanduser() / DATASET_NAME


def legacy_path(root: Path) -> Path:
    """Where the previous version kept its SQLite store, next to the dataset folder."""
    return root.with_name("calls.sqlite3")
