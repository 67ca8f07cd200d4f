"""Committed notebooks hold no credential: no token value, no Basic header, no password in a URL.

Every string of every notebook under ``notebooks/`` is checked: cell sources, outputs
(text, HTML, JSON) and metadata (saved widget state included). The detector is tested on
synthetic notebooks first, so a test that finds nothing means nothing is there.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apifonica_nb.sandbox.data import credentials

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

# A value that is clearly not a secret: masked, elided, a template or a reference to one.
_PLACEHOLDER = re.compile(
    r"""^(?:
        [*.…xX_-]*                                   # ***, ..., xxxx, …
      | <[^>]*> | \{[^}]*\} | \$\{?[A-Za-z_][A-Za-z0-9_]*\}?   # <token>, {authToken}, $VAR
      | .*\b(?:your|my|example|placeholder|changeme|redacted|secret|token|here)\b.*
    )$""",
    re.VERBOSE | re.IGNORECASE,
)
# APIFONICA_AUTH_TOKEN given a value: quoted (Python, JSON, YAML), or bare as in a shell, a
# .env file or %env. Prose that merely names the variable does not match.
_ENV_QUOTED = re.compile(
    r"""APIFONICA_AUTH_TOKEN["']?\]?[ \t]*[=:][ \t]*(?P<q>["'])(?P<value>[^"'\n]*)(?P=q)"""
)
_ENV_BARE = re.compile(
    r"""APIFONICA_AUTH_TOKEN=(?P<value>[^\s"'$]\S*)"""
    r"""|%env[ \t]+APIFONICA_AUTH_TOKEN[ \t]+(?P<v2>\S+)"""
)
_LITERAL_TOKEN = re.compile(
    r"""\b(?:auth_token|authToken|api_key|apikey|password|passwd|secret)["']?\s*[=:]\s*
        (?P<q>["'])(?P<value>[^"'\n]*)(?P=q)""",
    re.VERBOSE | re.IGNORECASE,
)
_ACCOUNT_TOKEN = re.compile(r"""["']token["']\s*:\s*(?P<q>["'])(?P<value>[^"'\n]*)(?P=q)""")
_BASIC = re.compile(r"\bBasic\s+(?P<value>[A-Za-z0-9+/]{8,}={0,2})")
_URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@\"'<>]+:(?P<value>[^/\s@\"'<>]+)@")
_CURL_USER = re.compile(r"(?:-u|--user)\s+[\"']?[^\s:\"']+:(?P<value>[^\s\"']+)")
_WELL_KNOWN = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----"  # PEM keys
    r"|\bAKIA[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\bgh[pousr]_[A-Za-z0-9]{36,}\b"  # GitHub tokens
    r"|\bxox[abpr]-[A-Za-z0-9-]{10,}"  # Slack tokens
)
_HEX32 = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")


def sandbox_tokens(seeds: int = 1000) -> frozenset[str]:
    """The auth tokens the bundled sandbox derives for seeds 0..seeds-1 (from the seed alone).

    A notebook that prints the sandbox's token would print the real one on a real account.
    """
    return frozenset(credentials(seed, 1, 0)[1] for seed in range(seeds))


def _usable(value: str) -> bool:
    """Whether a matched value could be a real secret (not a placeholder or an expression)."""
    return (
        bool(value)
        and not _PLACEHOLDER.match(value)
        and not value.startswith(("os.environ", "os.getenv", "getpass"))
    )


def _basic_has_password(encoded: str) -> bool:
    """Whether a Basic credentials value decodes to ``user:password`` with a real password."""
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, sep, password = decoded.partition(":")
    return bool(sep and user and _usable(password))


def find_credentials(text: str, known: frozenset[str] = frozenset()) -> list[str]:
    """Return a description of each credential-looking string in ``text``."""
    found = []
    for match in _ENV_BARE.finditer(text):
        value = match["value"] or match["v2"]
        if _usable(value):
            found.append(f"an APIFONICA_AUTH_TOKEN value: {value[:4]}…")
    for pattern, what in (
        (_ENV_QUOTED, "an APIFONICA_AUTH_TOKEN value"),
        (_LITERAL_TOKEN, "a literal token or password"),
        (_ACCOUNT_TOKEN, "an account object's token"),
        (_URL_PASSWORD, "a password inside a URL"),
        (_CURL_USER, "curl -u credentials"),
    ):
        for match in pattern.finditer(text):
            if _usable(match["value"]):
                found.append(f"{what}: {match['value'][:4]}…")
    for match in _BASIC.finditer(text):
        if _basic_has_password(match["value"]):
            found.append(f"Basic credentials: {match['value'][:4]}…")
    found += [f"a well-known secret format: {m[0][:6]}…" for m in _WELL_KNOWN.finditer(text)]
    if known:
        found += [f"a sandbox token: {m[0][:4]}…" for m in _HEX32.finditer(text) if m[0] in known]
    return found


def notebook_strings(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Yield ``(where, text)`` for every string in a notebook (multi-line lists joined)."""
    if isinstance(node, str):
        yield where, node
    elif isinstance(node, list):
        if node and all(isinstance(item, str) for item in node):
            yield where, "".join(node)
        else:
            for i, item in enumerate(node):
                yield from notebook_strings(item, f"{where}[{i}]")
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from notebook_strings(value, f"{where}.{key}")


def scan_notebook(path: Path, known: frozenset[str]) -> list[str]:
    """Return where and what each credential-looking string of a notebook file is."""
    raw = path.read_text(encoding="utf-8")
    problems = [f"{path.name} (raw file): {hit}" for hit in find_credentials(raw, known)]
    for where, text in notebook_strings(json.loads(raw)):
        problems += [f"{path.name}{where}: {hit}" for hit in find_credentials(text, known)]
    return problems


def committed_notebooks() -> list[Path]:
    """Return the notebooks under notebooks/ (checkpoints excluded)."""
    return sorted(p for p in NOTEBOOKS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


@pytest.fixture(scope="module")
def known_tokens() -> frozenset[str]:
    """Return the sandbox tokens of seeds 0..999, derived once per module."""
    return sandbox_tokens()


# -- the detector, on synthetic notebooks -------------------------------------------------------

FAKE_TOKEN = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"  # looks real; belongs to nobody


def notebook(*cells: dict[str, Any], metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a minimal nbformat 4 notebook."""
    return {"cells": list(cells), "metadata": metadata or {}, "nbformat": 4, "nbformat_minor": 5}


def code(source: str, *outputs: dict[str, Any]) -> dict[str, Any]:
    """Return a code cell with outputs."""
    return {
        "cell_type": "code",
        "execution_count": 1,
        "id": "c1",
        "metadata": {},
        "source": source.splitlines(keepends=True),
        "outputs": list(outputs),
    }


def stream(text: str) -> dict[str, Any]:
    """Return a stdout stream output."""
    return {"name": "stdout", "output_type": "stream", "text": text.splitlines(keepends=True)}


def display(data: dict[str, Any]) -> dict[str, Any]:
    """Return a display_data output."""
    return {"output_type": "display_data", "data": data, "metadata": {}}


def basic_header(user: str, password: str) -> str:
    """Return an HTTP Basic Authorization header value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


LEAKY_NOTEBOOKS: dict[str, dict[str, Any]] = {
    "env-magic": notebook(code(f"%env APIFONICA_AUTH_TOKEN={FAKE_TOKEN}")),
    "env-magic-space": notebook(code(f"%env APIFONICA_AUTH_TOKEN {FAKE_TOKEN}")),
    "os-environ": notebook(code(f'os.environ["APIFONICA_AUTH_TOKEN"] = "{FAKE_TOKEN}"')),
    "dotenv-output": notebook(code("!cat .env", stream(f"APIFONICA_AUTH_TOKEN={FAKE_TOKEN}\n"))),
    "client-literal": notebook(code(f'ap.Client(account_sid="acc1", auth_token="{FAKE_TOKEN}")')),
    "basic-header-output": notebook(
        code("r.request.headers", stream(f"{{'Authorization': '{basic_header('acc1', 'pw1')}'}}"))
    ),
    "url-password": notebook(code(f"requests.get('https://acc1:{FAKE_TOKEN}@api.example/v2')")),
    "curl": notebook(code(f"!curl -u acc1:{FAKE_TOKEN} https://api.apifonica.com/v2/accounts")),
    "account-object-html": notebook(
        code(
            "client._request(url)",
            display({"text/html": [f'<td>{{"token": "{FAKE_TOKEN}"}}</td>']}),
        )
    ),
    "sandbox-token-in-output": notebook(
        code("sb.auth_token", display({"text/plain": [f"'{credentials(7, 500, 0)[1]}'"]}))
    ),
    "widget-state": notebook(
        code("explorer"),
        metadata={
            "widgets": {
                "application/vnd.jupyter.widget-state+json": {
                    "state": {"m1": {"state": {"value": f"auth_token = '{FAKE_TOKEN}'"}}}
                }
            }
        },
    ),
    "github-token": notebook(code("", stream("ghp_" + "a1B2" * 9 + "\n"))),
}

CLEAN_NOTEBOOK = notebook(
    code(
        "import os, getpass\n"
        'token = os.environ["APIFONICA_AUTH_TOKEN"]\n'
        'os.environ["APIFONICA_AUTH_TOKEN"] = getpass.getpass()\n'
        "client = ap.Client(account_sid=sid, auth_token=token)\n"
        'ap.Client(account_sid="acc…", auth_token="***")\n'
        "%env APIFONICA_AUTH_TOKEN=<your token>\n",
        stream(
            "Client(account_sid='acc1d95dfc3', auth_token='***', base_url='http://127.0.0.1')\n"
        ),
        display(
            {
                "text/plain": ["curl -u {accountSID}:{authToken} https://api.apifonica.com/v2"],
                "text/html": ["<td>cal17cb9958-3878-4562-b6a7-f67a0adsfsdfd</td>"],
                "application/vnd.jupyter.widget-view+json": {
                    "model_id": "4f2b8c0e9d1a4e7f8a6b5c3d2e1f0a9b",
                    "version_major": 2,
                },
            }
        ),
    ),
    metadata={"kernelspec": {"name": "python3"}},
)


@pytest.mark.parametrize("name", list(LEAKY_NOTEBOOKS))
def test_the_detector_finds_a_planted_credential(
    tmp_path: Path, known_tokens: frozenset[str], name: str
) -> None:
    path = tmp_path / f"{name}.ipynb"
    path.write_text(json.dumps(LEAKY_NOTEBOOKS[name], indent=1))
    problems = scan_notebook(path, known_tokens)
    assert problems, f"the detector missed the credential planted in {name}"
    assert all(FAKE_TOKEN not in p for p in problems)  # the report itself shows no secret


def test_the_detector_passes_a_clean_notebook(tmp_path: Path, known_tokens: frozenset[str]) -> None:
    path = tmp_path / "clean.ipynb"
    path.write_text(json.dumps(CLEAN_NOTEBOOK, indent=1))
    assert scan_notebook(path, known_tokens) == []


def test_the_sandbox_tokens_are_the_ones_the_sandbox_uses() -> None:
    import apifonica_nb as ap

    with ap.sandbox.running(calls=5, seed=7) as sb:
        assert sb.auth_token in sandbox_tokens()


# -- the committed notebooks ---------------------------------------------------------------------


def test_the_notebook_glob_is_what_it_claims() -> None:
    """Zero notebooks is a valid state; the scan below must then run over an empty list."""
    found = committed_notebooks()
    assert all(p.suffix == ".ipynb" and p.is_file() for p in found)
    assert all(NOTEBOOKS in p.parents for p in found)
    if not NOTEBOOKS.exists():
        assert found == []


def test_committed_notebooks_hold_no_credentials(known_tokens: frozenset[str]) -> None:
    problems = [hit for path in committed_notebooks() for hit in scan_notebook(path, known_tokens)]
    assert problems == [], "credential-looking strings in notebooks:\n" + "\n".join(problems)


#: GitHub stops rendering large notebooks, and a reviewer reads every re-run's diff.
MAX_NOTEBOOK_BYTES = 2_000_000


def test_committed_notebooks_stay_small() -> None:
    sizes = {p.name: p.stat().st_size for p in committed_notebooks()}
    too_big = {name: size for name, size in sizes.items() if size > MAX_NOTEBOOK_BYTES}
    assert too_big == {}, f"notebooks over {MAX_NOTEBOOK_BYTES:,} bytes: {too_big}"
