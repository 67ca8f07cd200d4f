"""Measure the requests per second the sandbox serves at 8 and 32 concurrent clients.

Usage::

    python benchmarks/bench_sandbox.py            # 1, 8 and 32 clients, 3 s each, 3 runs
    python benchmarks/bench_sandbox.py --quick    # 1 and 4 clients, 0.5 s, one run
    python benchmarks/bench_sandbox.py --clients 8 32 64 --seconds 5 --procs 8

The sandbox serves from its own process without latency, so what is measured is the server
(target: at least 1,000 requests per second on loopback, so that no benchmark is limited by
it). The clients run in their own processes (``--procs``, default up to 8), each holding its
share of the keep-alive connections on threads, so the load does not stop at one client
process's GIL. Two kinds of client: raw ``http.client`` (as little client work as possible)
and ``requests`` (what the package uses, about 1 ms of CPU a request, for reference). Two
kinds of request: one call (``GET /calls/{sid}``, what fetch_calls sends) and one history page
of 20 calls (every page of the history in turn, as following ``next`` asks for them). The
ratio is to one raw client measured in the same run. The server's CPU time per request is
read from /proc, where there is one.
"""

from __future__ import annotations

import base64
import http.client
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import _common


def _server_cpu(pid: int) -> float | None:
    """Return the CPU seconds process ``pid`` has used (user + system), where /proc tells."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _client_thread(
    kind: str,
    url: str,
    auth: str,
    paths: list[str],
    go: Any,
    seconds: float,
    out: list[int],
    errors: list[str],
) -> None:
    """Send GETs on one keep-alive connection for ``seconds`` after ``go``; count the answers."""
    try:
        out.append(_run_client(kind, url, auth, paths, go, seconds))
    except Exception as exc:  # reported by the parent, once, instead of a traceback per thread
        errors.append(f"{type(exc).__name__}: {exc}")
        go.wait()


def _run_client(kind: str, url: str, auth: str, paths: list[str], go: Any, seconds: float) -> int:
    parts = urlsplit(url)
    headers = {"Authorization": auth}
    done = 0
    if kind == "requests":
        import requests

        session = requests.Session()
        base = f"{parts.scheme}://{parts.netloc}"

        def get(path: str) -> None:
            response = session.get(base + path, headers=headers, timeout=30)
            response.raise_for_status()
    else:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)

        def get(path: str) -> None:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status} for {path}")

    get(paths[0])  # connect and warm up before the clock starts
    go.wait()
    end = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < end:
        get(paths[i % len(paths)])
        i += 1
        done += 1
    return done


def _client_process(
    kind: str,
    url: str,
    auth: str,
    paths: list[str],
    threads: int,
    ready: Any,
    go: Any,
    seconds: float,
    results: Any,
) -> None:
    """Run ``threads`` client connections in this process; put their total on ``results``."""
    counts: list[int] = []
    errors: list[str] = []
    local_go = threading.Event()
    workers = [
        threading.Thread(
            target=_client_thread,
            args=(kind, url, auth, paths, local_go, seconds, counts, errors),
        )
        for _ in range(threads)
    ]
    for w in workers:
        w.start()
    ready.put(1)
    go.wait()
    local_go.set()
    for w in workers:
        w.join()
    results.put((sum(counts), errors[:1]))


def measure(
    sb: Any, kind: str, paths: list[str], clients: int, procs: int, seconds: float
) -> tuple[float, float | None]:
    """Return requests per second served to ``clients`` connections, and server CPU per 1k."""
    ctx = mp.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    auth = "Basic " + base64.b64encode(f"{sb.account_sid}:{sb.auth_token}".encode()).decode()
    n_procs = max(1, min(procs, clients))
    shares = [clients // n_procs + (i < clients % n_procs) for i in range(n_procs)]
    children = [
        ctx.Process(
            target=_client_process,
            args=(kind, sb.url, auth, paths, share, ready, go, seconds, results),
        )
        for share in shares
    ]
    for child in children:
        child.start()
    for _ in children:
        ready.get(timeout=120)
    time.sleep(0.2)  # let every thread reach its wait
    cpu0 = _server_cpu(sb.pid)
    started = time.perf_counter()
    go.set()
    answers = [results.get(timeout=seconds + 120) for _ in children]
    total = sum(count for count, _ in answers)
    elapsed = time.perf_counter() - started
    cpu1 = _server_cpu(sb.pid)
    for child in children:
        child.join(timeout=30)
    failed = [e for _, errors in answers for e in errors]
    if failed:
        raise RuntimeError(f"a client failed: {failed[0]}")
    rate = total / elapsed
    cpu = None if cpu0 is None or cpu1 is None or not total else (cpu1 - cpu0) / total * 1000
    return rate, cpu


def history_pages(sb: Any, prefix: str) -> list[str]:
    """Return the path of every page of the history, as following ``next`` visits them.

    The first page holds the calls still in progress, which the server computes at each
    request (about 1 ms); the others are served as stored: together they are what reading a
    history asks for. Cursors stay valid on the server (the newest 100,000 are kept).
    """
    import requests

    paths = [f"{prefix}?limit=20"]
    with requests.Session() as session:
        url: str | None = sb.url.rsplit("/v2", 1)[0] + paths[0]
        while url:
            url = session.get(url, auth=(sb.account_sid, sb.auth_token), timeout=30).json()["next"]
            if url:
                parts = urlsplit(url)
                paths.append(f"{parts.path}?{parts.query}")
    return paths


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    p = _common.parser(__doc__)
    p.add_argument("--clients", type=int, nargs="*", help="concurrent connections (8 32)")
    p.add_argument("--procs", type=int, default=8, help="client processes at most (8)")
    p.add_argument("--seconds", type=float, help="seconds per measurement (3)")
    p.add_argument("--runs", type=int, help="runs per measurement (3)")
    p.add_argument("--no-requests", action="store_true", help="skip the requests-based client")
    args = p.parse_args(argv)
    clients = args.clients or ([4] if args.quick else [8, 32])
    seconds = args.seconds or (0.5 if args.quick else 3.0)
    runs = args.runs or (1 if args.quick else 3)
    kinds = ["http.client"] + ([] if args.no_requests else ["requests"])
    print(_common.machine())
    print(f"{seconds:g} s per measurement, median of {runs}; sandbox in its own process")
    rows: list[list[object]] = []
    with _common.sandbox_process(2000) as sb:
        prefix = urlsplit(sb.url).path + f"/accounts/{sb.account_sid}/calls"
        calls = [f"{prefix}/{sid}" for sid in sb.call_sids[:200]]
        kinds_of_request: dict[str, Callable[[], list[str]]] = {
            "one call": lambda: calls,
            # Cursors are collected afresh each time: the server keeps the newest 100,000.
            "history page": partial(history_pages, sb, prefix),
        }
        for what, paths_now in kinds_of_request.items():
            baseline = None
            for kind in kinds:
                for n in [1, *clients]:
                    if kind == "requests" and n == 1:
                        continue
                    got = [
                        measure(sb, kind, paths_now(), n, args.procs, seconds) for _ in range(runs)
                    ]
                    rate = statistics.median(r for r, _ in got)
                    cpus = [c for _, c in got if c is not None]
                    cpu = f"{statistics.median(cpus):.2f}" if cpus else "n/a"
                    if baseline is None:
                        baseline = rate
                    procs = max(1, min(args.procs, n))
                    rows.append(
                        [
                            what,
                            kind,
                            n,
                            procs,
                            f"{rate:,.0f}",
                            f"{rate / baseline:.1f}x",
                            "yes" if rate >= 1000 else "no",
                            cpu,
                        ]
                    )
    _common.print_table(
        "requests per second the sandbox serves (ratio: to one raw client, same run)",
        ["request", "client", "clients", "procs", "req/s", "ratio", ">= 1,000", "server ms/req"],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
