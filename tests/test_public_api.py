"""The public surface: a sorted, complete ``__all__``, each name documented where users look."""

from __future__ import annotations

import importlib.util
import inspect
import json
import pathlib
import re

import apifonica_nb as ap

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_all_is_sorted_and_resolves() -> None:
    assert list(ap.__all__) == sorted(ap.__all__)
    for name in ap.__all__:
        assert getattr(ap, name) is not None, name


def test_public_callables_have_docstrings() -> None:
    for name in ap.__all__:
        obj = getattr(ap, name)
        if inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismodule(obj):
            assert (obj.__doc__ or "").strip(), f"{name} has no docstring"


def test_error_tree_matches_the_design() -> None:
    e = ap.errors
    for cls in (e.TransportError, e.APIStatusError, e.ResponseFormatError):
        assert issubclass(cls, e.ApifonicaError)
    for cls in (e.AuthenticationError, e.NotFoundError, e.RateLimitedError):
        assert issubclass(cls, e.APIStatusError)
    assert sorted(e.__all__) == e.__all__
    for name in e.__all__:
        assert name in (e.__doc__ or ""), f"{name} missing from the drawn tree"


def documentation_text() -> str:
    parts = [(ROOT / "README.md").read_text(encoding="utf-8")]
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        parts.extend("".join(c["source"]) for c in cells)
    return "\n".join(parts)


def test_every_public_name_is_shown_in_the_readme_or_a_notebook() -> None:
    text = documentation_text()
    missing = [
        name
        for name in ap.__all__
        if not name.startswith("_") and not re.search(rf"\b{re.escape(name)}\b", text)
    ]
    assert not missing, f"undocumented public names: {missing}"


def test_readme_column_table_matches_the_schema() -> None:
    # tools/ is not a package (it is not shipped): load the generator from its file.
    spec = importlib.util.spec_from_file_location("readme_tool", ROOT / "tools" / "readme.py")
    assert spec is not None and spec.loader is not None
    readme_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(readme_tool)

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_tool.render(readme) == readme, "run: python tools/readme.py"
    assert set(readme_tool.COLUMN_NOTES) == set(ap.CALL_DTYPES)
