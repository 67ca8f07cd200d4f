"""What ``apifonica-nb demo`` serves: a working copy of the notebooks, and the server command.

The demo never serves the project's own files: it copies the example notebooks (from the
checkout, or ``--notebooks DIR``) and the dashboard notebook (shipped with the package) into
a working folder of the user's, so JupyterLab's autosave and the explorer's exports land
there. The folder is ``APIFONICA_NB_DEMO_DIR`` or ``--workdir``, else ``demo`` under the user
data folder (``platformdirs.user_data_dir("apifonica_nb")``). A notebook already there is kept
as the user left it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import platformdirs

__all__ = ["DASHBOARD", "DemoFolder", "demo_folder", "lab_command", "voila_command"]

#: The dashboard notebook (a title and the explorer), shipped as package data.
DASHBOARD = Path(__file__).resolve().parent / "dashboard" / "call-explorer.ipynb"
#: Files the explorer exports, the only ones Voila serves besides the page.
EXPORT_PATTERN = r"calls-[0-9-]+\.(csv|parquet)"


@dataclass(frozen=True)
class DemoFolder:
    """The working folder the demo serves, and what copying into it did."""

    path: Path
    copied: list[str]
    kept: list[str]
    #: Where the example notebooks came from (None: not found; the dashboard only).
    source: Path | None

    def describe(self) -> str:
        """Say where the notebooks are, in one line for the terminal."""
        text = f"Notebooks: {self.path}"
        if self.kept:
            text += f" ({len(self.kept)} kept as you left them; delete one for a fresh copy)"
        if self.source is None:
            text += " (only the dashboard: the example notebooks come with a clone)"
        return text


def _default_path() -> Path:
    given = os.environ.get("APIFONICA_NB_DEMO_DIR")
    if given:
        return Path(given).expanduser()
    return Path(platformdirs.user_data_dir("apifonica_nb", appauthor=False)) / "demo"


def _examples(given: str | None) -> Path | None:
    if given:
        path = Path(given).expanduser()
        if not path.is_dir() or not any(path.glob("*.ipynb")):
            raise SystemExit(f"apifonica-nb demo: no notebooks in {path}")
        return path
    # An editable install or a clone: the notebooks sit next to the package.
    for path in (Path(__file__).resolve().parent.parent / "notebooks", Path.cwd() / "notebooks"):
        if path.is_dir() and any(path.glob("*.ipynb")):
            return path
    return None


def demo_folder(workdir: str | None = None, notebooks: str | None = None) -> DemoFolder:
    """Copy the notebooks into the working folder (keeping ones already there); describe it."""
    path = Path(workdir).expanduser() if workdir else _default_path()
    source = _examples(notebooks)
    if source is not None and path.resolve() == source.resolve():
        raise SystemExit(
            f"apifonica-nb demo: the working folder must not be the notebooks' own ({path})"
        )
    path.mkdir(parents=True, exist_ok=True)
    files = sorted(source.glob("*.ipynb")) if source is not None else []
    copied, kept = [], []
    for original in [*files, DASHBOARD]:
        target = path / original.name
        if target.exists():
            kept.append(original.name)
        else:
            shutil.copyfile(original, target)
            copied.append(original.name)
    return DemoFolder(path, copied, kept, source)


def voila_command(folder: Path, *, port: int, token: str) -> list[str]:
    """Return the Voila command for the dashboard, with the Voila next to this Python."""
    if importlib.util.find_spec("voila") is None:
        raise SystemExit(
            f"apifonica-nb demo --voila needs Voila in {sys.executable}'s environment: "
            f"{sys.executable} -m pip install 'apifonica_nb[demo]'"
        )
    return [
        sys.executable,
        "-m",
        "voila",
        str(folder / DASHBOARD.name),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        f"--ServerApp.token={token}",
        # The explorer's exports, and nothing else of the folder, can be downloaded.
        f"--VoilaConfiguration.file_allowlist={EXPORT_PATTERN}",
        "--MappingKernelManager.cull_idle_timeout=600",
        "--MappingKernelManager.cull_interval=60",
    ]


def lab_command(folder: Path, *, port: int, token: str) -> list[str]:
    """Return the JupyterLab command serving ``folder``."""
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={folder}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and Binder-like boxes run as root
    return cmd
