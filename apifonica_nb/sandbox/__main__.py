"""Serve the sandbox until Ctrl-C: ``python -m apifonica_nb.sandbox``, ``apifonica-nb sandbox``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import Any

from apifonica_nb.sandbox import DEFAULT_SEED, TOKEN_ENV, Sandbox, start
from apifonica_nb.sandbox.server import normalize_faults

__all__ = ["main"]

DEFAULT_PORT = 8765


def _faults(text: str) -> dict[str, Any]:
    try:
        return normalize_faults(json.loads(text))
    except (ValueError, TypeError, AttributeError) as exc:
        msg = f"--faults needs a JSON object of fault options: {exc}"
        raise argparse.ArgumentTypeError(msg) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m apifonica_nb.sandbox",
        description="Serve a seeded simulator of the Apifonica calls API on this machine.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port, 0 for any free one ({DEFAULT_PORT})"
    )
    parser.add_argument("--calls", type=int, default=500, help="calls in the account (500)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed ({DEFAULT_SEED})")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument(
        "--now", help="freeze the clock at this ISO 8601 time (default: the real clock runs)"
    )
    parser.add_argument(
        "--faults",
        type=_faults,
        default=None,
        help='fault rates as JSON, e.g. \'{"error_rate": 0.1, "drop_rate": 0.02}\'',
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        metavar="N",
        help="allow N requests per second per account; beyond it 429 with Retry-After",
    )
    parser.add_argument(
        "--burst",
        type=float,
        default=None,
        help="requests allowed at once under --rate-limit (default: one second's worth)",
    )
    parser.add_argument("--account-sid", help="use this account SID instead of the seeded one")
    parser.add_argument(
        "--no-fraud-burst",
        dest="fraud_burst",
        action="store_false",
        help="leave out the seeded toll-fraud-like night (a stationary account)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON line (url, account_sid, auth_token, call_sids, ...) and nothing else",
    )
    return parser


def _announce(sb: Sandbox, args: argparse.Namespace) -> None:
    if args.json:
        info = {
            "url": sb.url,
            "account_sid": sb.account_sid,
            "auth_token": sb.auth_token,
            "example_call_sid": sb.example_call_sid,
            "call_sids": sb.call_sids,
            "pid": os.getpid(),
        }
        print(json.dumps(info), flush=True)
        return
    clock = args.now or "real time"
    limit = f", {args.rate_limit:g} requests/s" if args.rate_limit else ""
    call_url = f"{sb.url}/accounts/{sb.account_sid}/calls/{sb.example_call_sid}"
    print(
        f"Apifonica sandbox: {len(sb.call_sids)} calls (seed {args.seed}, clock {clock}{limit})\n"
        f"  base URL     {sb.url}\n"
        f"  account SID  {sb.account_sid}\n"
        f"  auth token   {sb.auth_token}\n"
        f"  try          curl -u {sb.account_sid}:{sb.auth_token} {call_url}\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox command line; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        sb = start(
            calls=args.calls,
            seed=args.seed,
            latency=args.latency,
            faults=args.faults,
            rate_limit=args.rate_limit,
            burst=args.burst,
            now=args.now,
            host=args.host,
            port=args.port,
            account_sid=args.account_sid,
            auth_token=os.environ.get(TOKEN_ENV) or None,
            fraud_burst=args.fraud_burst,
        )
    except OSError as exc:
        hint = " (try --port 0 for any free port)" if args.port else ""
        print(
            f"error: cannot serve on {args.host}:{args.port}: {exc.strerror}{hint}", file=sys.stderr
        )
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()
    if threading.current_thread() is threading.main_thread():
        # A terminate() from the parent of a process-mode sandbox ends as cleanly as Ctrl-C.
        signal.signal(signal.SIGTERM, lambda signum, frame: done.set())
    try:
        _announce(sb, args)
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()
    if not args.json:
        print("Sandbox stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
