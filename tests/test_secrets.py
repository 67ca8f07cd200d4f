"""Secrets: the auth token never shows, whatever goes wrong and wherever output lands.

The token is checked in every form it can leak in: as is, URL-encoded, and inside the Basic
credentials (base64 of ``sid:token``, as good as the token itself). A server that echoes
the credentials back in bodies, links and headers stands in for the worst case.
Committed notebooks are checked by ``test_notebook_hygiene.py``.
"""

from __future__ import annotations

import base64
import inspect
import json
import logging
import socket
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import ipywidgets
import pytest
import requests
from IPython.core.formatters import DisplayFormatter
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import apifonica_nb as ap
import apifonica_nb.sandbox.server as sandbox_server
from apifonica_nb.cache import CallStore, cache_path
from apifonica_nb.connect import DEMO_NOW
from apifonica_nb.errors import (
    ApifonicaError,
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    FetchFailuresWarning,
    NotFoundError,
    RateLimitedError,
    ResponseFormatError,
    TransportError,
)
from apifonica_nb.widgets import CallExplorer

ECHO_SID = "acc1"
ECHO_TOKEN = "f3a9c1d2e4b5a6978877665544332211"


def secret_forms(account_sid: str, token: str) -> list[str]:
    """Every text form a token can leak in."""
    basic = base64.b64encode(f"{account_sid}:{token}".encode()).decode()
    return sorted({token, quote(token, safe=""), basic})


def assert_no_secret(text: str, account_sid: str, token: str, where: str = "") -> None:
    """Assert no form of ``token`` is in ``text``."""
    for form in secret_forms(account_sid, token):
        assert form not in text, f"the token leaked ({form[:6]}…) in {where or 'text'}"


def exception_texts(exc: BaseException) -> list[str]:
    """Everything an exception shows: str, repr, args, attributes, the formatted traceback
    (with its chain), and the same for every exception in ``__cause__``/``__context__``."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        texts += [repr(v) for k, v in vars(current).items() if not k.startswith("__")]
        texts.append("".join(traceback.format_exception(current, chain=True)))
        todo += [current.__cause__, current.__context__]
    return texts


def assert_exception_is_clean(exc: BaseException, account_sid: str, token: str) -> None:
    """Assert nothing an exception shows holds the token."""
    for text in exception_texts(exc):
        assert_no_secret(text, account_sid, token, f"{type(exc).__name__}: {text[:80]!r}")


# -- a server that echoes the credentials back ----------------------------------------------------


class Echo:
    """A loopback API that puts the credentials it receives into everything it answers."""

    def __init__(self) -> None:
        self.url = ""
        self.hits: list[str] = []

    def answer(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        """Return (status, headers, body) for a request, echoing its credentials."""
        auth = request.headers.get("Authorization", "")
        decoded = base64.b64decode(auth.split(" ")[-1] or "").decode(errors="replace")
        token = decoded.partition(":")[2]
        echo = f"you sent {auth!r} meaning {decoded!r}, token {token} ({quote(token)})"
        path = request.path.rsplit("/", 1)[-1]
        page = f"<html><body><h1>Oops</h1><p>{echo}</p></body></html>".encode()
        envelope = json.dumps({"status_code": 0, "message": echo})
        if path in ("e500", "e404", "e401", "e403", "e400"):
            status = int(path[1:])
            return status, {}, envelope.replace("0", str(status), 1).encode()
        if path == "e429":
            return 429, {"Retry-After": "3600"}, envelope.encode()
        if path == "html":
            return 200, {"Content-Type": "text/html"}, page
        if path == "cut":
            return 200, {}, json.dumps({"call_sid": "cut", "tag": echo}).encode()[:-3]
        if path == "calls":  # the history: a next link that carries the token
            base = self.url + "/accounts/acc1/calls"
            nxt = f"{base}?cursor=1&auth={quote(token)}"
            return 200, {}, json.dumps({"next": nxt, "calls": [{"call_sid": "cal1"}]}).encode()
        if path == "acc1":  # the account object carries the token, as the real API's does
            return 200, {}, json.dumps({"account_sid": "acc1", "token": token}).encode()
        return 404, {}, envelope.encode()


@pytest.fixture(scope="module")
def echo() -> Iterator[Echo]:
    """Serve :class:`Echo` on a free loopback port for this module."""
    state = Echo()

    @Request.application
    def app(request: Request) -> Response:
        state.hits.append(request.full_path)
        status, headers, body = state.answer(request)
        headers.setdefault("Content-Type", "application/json")
        return Response(body, status=status, headers=headers)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    state.url = f"http://127.0.0.1:{server.server_port}/v2"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def echo_client(echo: Echo, **kwargs: Any) -> ap.Client:
    """Return a client of the echo server that retries without waiting."""
    kwargs.setdefault("backoff_factor", 0)
    kwargs.setdefault("max_retries", 1)
    return ap.Client(account_sid=ECHO_SID, auth_token=ECHO_TOKEN, base_url=echo.url, **kwargs)


@pytest.mark.parametrize(
    ("sid", "error"),
    [
        ("e500", APIStatusError),
        ("e400", APIStatusError),
        ("e404", NotFoundError),
        ("e401", AuthenticationError),
        ("e403", AuthenticationError),
        ("e429", RateLimitedError),
        ("html", ResponseFormatError),
        ("cut", ResponseFormatError),
    ],
)
def test_errors_never_show_a_token_the_server_echoes(
    echo: Echo, sid: str, error: type[ApifonicaError]
) -> None:
    client = echo_client(echo)
    with pytest.raises(error) as info:
        client.get_call(sid)
    assert_exception_is_clean(info.value, ECHO_SID, ECHO_TOKEN)
    excerpt = getattr(info.value, "body_excerpt", "")
    assert "***" in excerpt  # the echo is there, masked: the check above is not vacuous


def test_batch_failures_never_show_a_token_the_server_echoes(echo: Echo) -> None:
    sids = ["e500", "e400", "e404", "html", "cut"]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        df = ap.fetch_calls(sids, client=echo_client(echo), progress=False, cache=False)
    failures = df.attrs["failures"]
    assert [f["call_sid"] for f in failures] == sids
    assert_no_secret(json.dumps(failures), ECHO_SID, ECHO_TOKEN, "df.attrs['failures']")
    assert_no_secret(str(seen[0].message), ECHO_SID, ECHO_TOKEN, "the warning")
    assert "***" in json.dumps(failures)  # the echo is there, masked


@pytest.mark.parametrize(
    ("sid", "error"), [("e401", AuthenticationError), ("e429", RateLimitedError)]
)
def test_a_batch_stopped_by_an_echoing_server_shows_no_token(
    echo: Echo, sid: str, error: type[APIStatusError]
) -> None:
    with pytest.raises(error) as info:
        echo_client(echo).get_calls(["e500", sid], workers=1, progress=False)
    assert info.value.batch is not None  # its failure rows are checked with the rest
    assert_exception_is_clean(info.value, ECHO_SID, ECHO_TOKEN)
    assert_no_secret(json.dumps(info.value.batch.failures), ECHO_SID, ECHO_TOKEN, "the batch")


def test_a_next_link_carrying_the_token_is_not_followed(echo: Echo) -> None:
    before = len(echo.hits)
    with pytest.raises(ResponseFormatError, match="carries the account's auth token") as info:
        list(echo_client(echo).iter_calls())
    assert len(echo.hits) == before + 1  # the first page only: the token never went on a URL
    assert_exception_is_clean(info.value, ECHO_SID, ECHO_TOKEN)


@pytest.mark.parametrize(
    "link",
    [
        "http://acc1:{token}@127.0.0.1:1/v2/accounts/acc1/calls",
        "https://evil.example/v2/accounts/acc1/calls?auth={token}",
    ],
    ids=["userinfo", "query"],
)
def test_a_foreign_next_link_with_the_token_is_refused_without_showing_it(
    odd_server: Any, link: str
) -> None:
    page = {"next": link.format(token=ECHO_TOKEN), "calls": []}
    odd_server.json("/v2/accounts/acc1/calls", page)
    client = ap.Client(account_sid=ECHO_SID, auth_token=ECHO_TOKEN, base_url=odd_server.url)
    with pytest.raises(ResponseFormatError) as info:
        list(client.iter_calls())
    assert_exception_is_clean(info.value, ECHO_SID, ECHO_TOKEN)


def test_the_account_object_comes_without_its_token(echo: Echo) -> None:
    account = echo_client(echo).get_account()
    assert account == {"account_sid": "acc1"}


# -- exceptions from a real sandbox and from the network -----------------------------------------


def test_sandbox_errors_never_show_the_token(sandbox: Any, fault_sandbox: Any) -> None:
    wrong = "0badc0ffee0badc0ffee0badc0ffee00"
    errors: list[tuple[BaseException, str, str]] = []

    def collect(fn: Any, sid: str, token: str) -> None:
        with pytest.raises(ApifonicaError) as info:
            fn()
        errors.append((info.value, sid, token))

    bad = ap.Client(account_sid=sandbox.account_sid, auth_token=wrong, base_url=sandbox.url)
    collect(lambda: bad.get_call(sandbox.example_call_sid), sandbox.account_sid, wrong)
    collect(lambda: ap.fetch_history(client=bad, progress=False), sandbox.account_sid, wrong)
    good = sandbox.client()
    collect(lambda: good.get_call("calnothere"), sandbox.account_sid, sandbox.auth_token)
    collect(lambda: good.get_call("../x"), sandbox.account_sid, sandbox.auth_token)
    fast = fault_sandbox.client(backoff_factor=0, max_retries=1, timeout=(1, 0.2))
    sid, token = fault_sandbox.account_sid, fault_sandbox.auth_token
    for faults in (
        {"error_rate": 1.0},
        {"rate_limit_rate": 1.0, "retry_after": 3600},
        {"drop_rate": 1.0},
        {"truncate_rate": 1.0},
        {"html_rate": 1.0},
        {"hang_rate": 1.0, "hang_seconds": 5},
    ):
        fault_sandbox.faults = faults
        collect(lambda: fast.get_call(fault_sandbox.call_sids[0]), sid, token)
        collect(lambda: ap.fetch_history(client=fast, progress=False), sid, token)
    fault_sandbox.faults = {}
    kinds = {type(e).__name__ for e, _, _ in errors}
    assert {
        "AuthenticationError",
        "NotFoundError",
        "InvalidRequestError",
        "TransportError",
    } <= kinds
    assert {"RateLimitedError", "ResponseFormatError", "APIStatusError"} <= kinds
    for exc, account, secret in errors:
        assert_exception_is_clean(exc, account, secret)


def test_network_errors_never_show_the_token() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = ap.Client(
        account_sid=ECHO_SID,
        auth_token=ECHO_TOKEN,
        base_url=f"http://127.0.0.1:{port}/v2",
        max_retries=1,
        backoff_factor=0,
    )
    with pytest.raises(TransportError) as info:
        client.get_call("cal1")
    assert_exception_is_clean(info.value, ECHO_SID, ECHO_TOKEN)
    with pytest.raises(TransportError) as info:
        list(client.iter_calls(tag="x"))
    assert_exception_is_clean(info.value, ECHO_SID, ECHO_TOKEN)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": "http://api.apifonica.com/v2"},
        {"base_url": f"https://acc1:{ECHO_TOKEN}@api.apifonica.com/v2"},
        {"base_url": "not a url"},
        {"account_sid": "../x"},
    ],
    ids=["plain-http", "credentials-in-url", "not-a-url", "bad-account"],
)
def test_configuration_errors_never_show_the_token(kwargs: dict[str, Any]) -> None:
    kwargs = {"account_sid": ECHO_SID, "auth_token": ECHO_TOKEN, **kwargs}
    with pytest.raises(ApifonicaError) as info:
        ap.Client(**kwargs)
    assert_exception_is_clean(info.value, ECHO_SID, ECHO_TOKEN)


# -- reprs and what a notebook would save --------------------------------------------------------


def test_reprs_and_notebook_outputs_never_show_the_token(sandbox: Any, client: ap.Client) -> None:
    with pytest.warns(FetchFailuresWarning):
        df = ap.fetch_calls([*sandbox.call_sids[:3], "calnot"], client=client, progress=False)
    batch = client.get_calls(sandbox.call_sids[:2], progress=False)
    explorer = CallExplorer(client=client)
    try:
        objects: list[Any] = [client, sandbox, batch, explorer, df, df.attrs]
        formatter = DisplayFormatter()
        for obj in objects:
            texts = [repr(obj), str(obj)]
            data, metadata = formatter.format(obj)
            texts += [json.dumps(data, default=str), json.dumps(metadata, default=str)]
            for text in texts:
                assert_no_secret(text, sandbox.account_sid, sandbox.auth_token, type(obj).__name__)
        assert "auth_token='***'" in repr(client) and "auth_token='***'" in repr(sandbox)
    finally:
        explorer.close()


def test_saved_widget_state_never_holds_a_typed_token(sandbox: Any) -> None:
    explorer = CallExplorer()
    try:
        explorer.source.value = "api"
        explorer.account_sid.value = sandbox.account_sid
        explorer.base_url.value = sandbox.url
        wrong = "0badc0ffee0badc0ffee0badc0ffee00"
        explorer.auth_token.value = wrong  # typed into the password field
        with pytest.raises(AuthenticationError):
            explorer.fetch()
        assert "Fetch failed" in explorer.message.value  # the error is shown ...
        state = json.dumps(ipywidgets.Widget.get_manager_state(drop_defaults=False))
        assert_no_secret(state, sandbox.account_sid, wrong, "the widget state")  # ... clean
        explorer.auth_token.value = sandbox.auth_token
        assert len(explorer.fetch()) > 0
        state = json.dumps(ipywidgets.Widget.get_manager_state(drop_defaults=False))
        assert sandbox.account_sid in state  # the state is really there
        assert_no_secret(state, sandbox.account_sid, sandbox.auth_token, "the widget state")
        assert_no_secret(repr(explorer), sandbox.account_sid, sandbox.auth_token, "repr")
    finally:
        explorer.close()


# -- logs, progress bars, files ------------------------------------------------------------------


def log_texts(records: list[logging.LogRecord]) -> list[str]:
    """Return each log record as text, with its raw arguments."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return [formatter.format(r) + repr(r.args) for r in records]


def test_debug_logs_never_hold_the_token(
    echo: Echo, fault_sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: urllib3 and the sandbox included
    client = echo_client(echo)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ap.fetch_calls(["e500", "html", "cut", "e404"], client=client, progress=False)
        with pytest.raises(RateLimitedError):
            client.get_calls(["e429"], progress=False)
        with pytest.raises(ResponseFormatError):
            ap.fetch_history(client=client, progress=False)
        fault_sandbox.faults = {"error_rate": 0.3, "drop_rate": 0.2, "truncate_rate": 0.2}
        fast = fault_sandbox.client(backoff_factor=0)
        ap.fetch_calls(fault_sandbox.call_sids, client=fast, progress=False)
        fault_sandbox.faults = {}
    bad = ap.Client(
        account_sid=fault_sandbox.account_sid, auth_token=ECHO_TOKEN, base_url=fault_sandbox.url
    )
    with pytest.raises(AuthenticationError):
        bad.get_call(fault_sandbox.call_sids[0])
    names = {r.name for r in caplog.records}
    assert {"urllib3.connectionpool", "apifonica_nb"} <= names  # DEBUG really was captured
    for text in log_texts(caplog.records):
        assert_no_secret(text, ECHO_SID, ECHO_TOKEN, "a log record")
        assert_no_secret(text, fault_sandbox.account_sid, fault_sandbox.auth_token, "a log record")
        assert_no_secret(text, fault_sandbox.account_sid, ECHO_TOKEN, "a log record")


def test_the_sandbox_logs_never_hold_the_token(caplog: pytest.LogCaptureFixture) -> None:
    """The sandbox silences werkzeug's access log; what it does log (errors of dropped or
    hung connections, at DEBUG) must not carry the credentials either."""
    caplog.set_level(logging.DEBUG)
    with ap.sandbox.running(calls=40, seed=41, now=DEMO_NOW) as sb:
        sb.faults = {"drop_rate": 0.3, "error_rate": 0.2, "truncate_rate": 0.1}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ap.fetch_calls(sb.call_sids, client=sb.client(backoff_factor=0), progress=False)
        sb.faults = {}
        url = f"{sb.url}/accounts/{sb.account_sid}/calls/{sb.call_sids[0]}"
        for auth in [(sb.account_sid, sb.auth_token[:-1]), (sb.account_sid, sb.auth_token)]:
            requests.get(url, auth=auth, timeout=5)
        sb.faults = {"hang_rate": 1.0, "hang_seconds": 0.5}
        with pytest.raises(requests.Timeout):
            requests.get(url, auth=(sb.account_sid, sb.auth_token), timeout=(2, 0.1))
        sb.faults = {}
        sid, token = sb.account_sid, sb.auth_token
    access_lines = [r for r in caplog.records if r.name == "werkzeug" and "GET" in r.getMessage()]
    assert access_lines == []  # werkzeug's access log stays off
    for text in log_texts(caplog.records):
        assert_no_secret(text, sid, token, "a log record")
        assert_no_secret(text, sid, token[:-1], "a log record")


def test_progress_output_never_holds_the_token(
    sandbox: Any, fault_sandbox: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    client = sandbox.client()
    ap.fetch_calls(sandbox.call_sids[:30], client=client, progress=True, cache=False)
    ap.fetch_history(client=client, progress=True, max_calls=60)
    fault_sandbox.faults = {"error_rate": 0.5}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ap.fetch_calls(
            fault_sandbox.call_sids[:20],
            client=fault_sandbox.client(max_retries=0),
            progress=True,
            cache=False,
        )
    fault_sandbox.faults = {}
    out, err = capfd.readouterr()
    assert "Fetching calls" in err and "Fetching history" in err  # the bars were drawn
    for text in (out, err):
        assert_no_secret(text, sandbox.account_sid, sandbox.auth_token, "progress output")
        assert_no_secret(
            text, fault_sandbox.account_sid, fault_sandbox.auth_token, "progress output"
        )


def test_the_cache_files_never_hold_the_token(sandbox: Any, client: ap.Client) -> None:
    with CallStore():  # an open connection keeps the -wal and -shm files in place
        ap.fetch_calls(sandbox.call_sids[:80], client=client, progress=False)
        ap.fetch_history(client=client, progress=False)
        ap.fetch_call(sandbox.call_sids[0], client=client)
        folder = cache_path().parent
        files = [p for p in folder.rglob("*") if p.is_file()]
        names = {p.name for p in files}
        assert {"_store.sqlite3", "_store.sqlite3-wal"} <= names
        assert any(name.endswith(".parquet") for name in names)
        for path in files:
            data = path.read_bytes()
            for form in secret_forms(sandbox.account_sid, sandbox.auth_token):
                assert form.encode() not in data, path
                assert form.encode("utf-16-le") not in data, path


# -- transport security: base_url, the sandbox's socket and its 401s --------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost.evil.com/v2",
        "http://127.0.0.1.nip.io/v2",
        "http://localhost@evil.com/v2",
        "http://evil.com#@127.0.0.1/v2",
        "http://0.0.0.0:9/v2",
        "http://192.168.1.10/v2",
        "ftp://127.0.0.1/v2",
        "//127.0.0.1/v2",
        "http://api.apifonica.com/v2",
        "http://10.0.0.5/v2",
        "not a url",
        "https://u:p@api.apifonica.com/v2",
    ],
)
def test_plain_http_to_anything_but_loopback_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        ap.Client(account_sid=ECHO_SID, auth_token=ECHO_TOKEN, base_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1]:9/v2",
        "http://127.0.0.2:9/v2",
        "http://LOCALHOST:9/v2",
        "http://localhost:9/v2",
        "http://127.0.0.1:9/v2",
        "https://10.0.0.5/v2",
        "https://api.apifonica.com/v2",
    ],
)
def test_loopback_or_https_is_accepted(url: str) -> None:
    client = ap.Client(account_sid=ECHO_SID, auth_token=ECHO_TOKEN, base_url=url)
    assert client.base_url == url


def listening_addresses(port: int) -> list[str]:
    """The local addresses a TCP port listens on, from /proc (Linux)."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                out.append(address)
    return out


def test_the_sandbox_binds_loopback_only(sandbox: Any) -> None:
    assert sandbox.url.startswith("http://127.0.0.1:")
    port = int(sandbox.url.rsplit(":", 1)[1].split("/")[0])
    addresses = listening_addresses(port)
    if not addresses:
        pytest.skip("no /proc/net/tcp here")
    assert addresses == ["0100007F"]  # 127.0.0.1, little-endian hex; not 0.0.0.0, not ::
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:  # this machine's address towards the outside (nothing is sent)
            probe.connect(("192.0.2.1", 9))
            outside = probe.getsockname()[0]
        except OSError:
            outside = ""
    if outside and not outside.startswith("127."):
        with pytest.raises(OSError), socket.create_connection((outside, port), timeout=2):
            pass


def test_the_sandbox_compares_credentials_in_constant_time() -> None:
    source = inspect.getsource(sandbox_server.SandboxApp._authorized)
    assert source.count("hmac.compare_digest(") >= 3  # the header, the SID, the token
    code = "\n".join(line.split("#")[0] for line in source.splitlines())
    for name in ("_token", "_sid", "_auth_header", "password", "user"):
        assert f"{name} ==" not in code and f"== self.{name}" not in code, name
    # Both parts are compared every time: no early exit on a wrong SID.
    assert "user_ok" in code and "password_ok" in code


def test_401_is_identical_whichever_part_is_wrong(sandbox: Any) -> None:
    url = f"{sandbox.url}/accounts/{sandbox.account_sid}/calls/{sandbox.example_call_sid}"
    sid, token = sandbox.account_sid, sandbox.auth_token

    def basic(text: str) -> str:
        return "Basic " + base64.b64encode(text.encode()).decode()

    headers = {
        "wrong-token": basic(f"{sid}:{'0' * 32}"),
        "wrong-sid": basic(f"acc{'0' * 36}:{token}"),
        "both-wrong": basic(f"acc{'0' * 36}:{'0' * 32}"),
        "token-prefix": basic(f"{sid}:{token[:-1]}"),
        "token-longer": basic(f"{sid}:{token}0"),
        "sid-upper": basic(f"{sid.upper()}:{token}"),
        "swapped": basic(f"{token}:{sid}"),
        "no-colon": basic(f"{sid}{token}"),
        "empty-password": basic(f"{sid}:"),
        "empty-user": basic(f":{token}"),
        "not-base64": "Basic !!!not base64!!!",
        "bearer": f"Bearer {token}",
        "scheme-only": "Basic",
        "empty": "",
        "non-ascii": basic(f"{sid}:{token}é"),
    }
    answers = {"missing": requests.get(url, timeout=10)}
    for name, value in headers.items():
        answers[name] = requests.get(url, headers={"Authorization": value}, timeout=10)
    reference = answers["missing"]
    assert reference.status_code == 401
    for name, response in answers.items():
        assert response.status_code == 401, name
        assert response.content == reference.content, name
        same = {k: v for k, v in response.headers.items() if k != "Date"}
        assert same == {k: v for k, v in reference.headers.items() if k != "Date"}, name
    assert requests.get(url, auth=(sid, token), timeout=10).status_code == 200
    # The client's error does not say which part was wrong either.
    messages = set()
    for account, secret in ((sid, "0" * 32), ("acc" + "0" * 36, token)):
        client = ap.Client(account_sid=account, auth_token=secret, base_url=sandbox.url)
        with pytest.raises(AuthenticationError) as info:
            client.get_call(sandbox.example_call_sid)
        messages.add(str(info.value).replace(account, "ACCOUNT"))
    assert len(messages) == 1


def test_stderr_of_a_failing_batch_is_clean(
    sandbox: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """Progress goes to stderr, and the error of a batch stopped by a wrong token is shown."""
    wrong = "0badc0ffee0badc0ffee0badc0ffee00"
    client = ap.Client(account_sid=sandbox.account_sid, auth_token=wrong, base_url=sandbox.url)
    with pytest.raises(AuthenticationError) as info:
        client.get_calls(sandbox.call_sids[:5], progress=True)
    sys.stderr.write("".join(traceback.format_exception(info.value)))  # as a notebook shows it
    err = capfd.readouterr().err
    assert "Fetching calls" in err and "refused the credentials" in err
    assert_no_secret(err, sandbox.account_sid, wrong, "stderr")
