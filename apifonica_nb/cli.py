"""The ``apifonica-nb`` command: serve the sandbox, summarise, export and report calls.

Every subcommand works from ``APIFONICA_*`` credentials or, with ``--sandbox`` (or when no
credentials are set), from a seeded sandbox started for the run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import webbrowser
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

from . import summary
from .cache import write_dataset
from .client import Client
from .connect import DEMO_NOW, connect, describe
from .demo import DASHBOARD, demo_folder, lab_command, voila_command
from .errors import ApifonicaError
from .fetch import CacheMode, fetch_calls, fetch_history
from .reporting import report

__all__ = ["main"]


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("where the calls come from")
    group.add_argument(
        "--sandbox",
        action="store_true",
        help="use a seeded local sandbox even if APIFONICA_* credentials are set",
    )
    group.add_argument("--calls", type=int, default=500, help="sandbox size (default 500)")
    group.add_argument("--seed", type=int, default=7, help="sandbox seed (default 7)")


def _add_selection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("which calls")
    group.add_argument("--since", help="first day (YYYY-MM-DD, UTC) or an ISO datetime")
    group.add_argument("--until", help="last day, included (YYYY-MM-DD, UTC) or an ISO datetime")
    group.add_argument("--status", nargs="+", metavar="S", help="one or more statuses")
    group.add_argument("--direction", choices=["inbound", "outbound"])
    group.add_argument("--channel", help="number or viber")
    group.add_argument("--tag")
    group.add_argument(
        "--sids-file", metavar="F", help="fetch the call SIDs listed in F instead of the history"
    )
    cache = group.add_mutually_exclusive_group()
    cache.add_argument(
        "--refresh", action="store_true", help="fetch every call again and update the cache"
    )
    cache.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")


def _cache_choice(args: argparse.Namespace) -> CacheMode:
    if getattr(args, "no_cache", False):
        return False
    return "refresh" if getattr(args, "refresh", False) else True


@contextlib.contextmanager
def _client(args: argparse.Namespace) -> Iterator[Client]:
    """Yield the client :func:`~apifonica_nb.connect.connect` decides on: the real API when
    credentials are set (and ``--sandbox`` is not given), else a seeded sandbox."""
    client = connect(
        sandbox=True if args.sandbox else None, calls=args.calls, seed=args.seed, quiet=True
    )
    print(f"Using {describe(client)}.", file=sys.stderr)
    try:
        yield client
    finally:
        client.close()


_FORMATS = {
    "share": "{:.1%}".format,
    "cost_eur": "{:,.4f}".format,
    "talk_minutes": "{:,.1f}".format,
}


def _cmd_summary(args: argparse.Namespace) -> int:
    with _client(args) as client:
        df = fetch_history(
            client=client, since=args.since, until=args.until, progress=sys.stderr.isatty()
        )
    by_status = summary.by_column(df, "status")[["calls", "cost_eur", "share"]]
    by_channel = summary.by_column(df, ["channel", "direction"])
    print(f"{len(df)} calls, total cost {summary.totals(df).cost_eur:.2f} EUR\n")
    print("Calls by status")
    print(by_status.to_string(formatters=_FORMATS))
    print("\nCost by channel and direction (EUR)")
    print(by_channel[["calls", "talk_minutes", "cost_eur"]].to_string(formatters=_FORMATS))
    print(f"\nKPIs by {' and '.join(args.by)} (ratios over attempts; see README 'KPIs')")
    print(summary.kpi_table(df, by=args.by).to_string())
    return 0


def _fetch_frame(args: argparse.Namespace, client: Client) -> pd.DataFrame:
    progress = sys.stderr.isatty()
    if getattr(args, "sids_file", None):
        from .widgets import parse_sid_list

        text = Path(args.sids_file).read_text(encoding="utf-8")
        valid, invalid = parse_sid_list(text)
        # Invalid SIDs go through too, so they come back as failure rows instead of vanishing.
        return fetch_calls(
            [*valid, *invalid],
            client=client,
            progress=progress,
            cache=_cache_choice(args),
            warn=False,  # the failures are listed below, with a file, or in the report
        )
    return fetch_history(
        client=client,
        since=args.since,
        until=args.until,
        status=args.status or None,
        direction=args.direction,
        channel=args.channel,
        tag=args.tag,
        progress=progress,
        cache=_cache_choice(args),
        warn=False,
    )


def _report_failures(df: pd.DataFrame, out: Path) -> None:
    for text in df.attrs.get("warnings", ()):
        if 'df.attrs["failures"]' not in text:  # the failures get a file of their own below
            print(f"warning: {text}", file=sys.stderr)
    failures = df.attrs.get("failures") or []
    if failures:
        path = out.with_name(out.stem + ".failures.csv")
        pd.DataFrame(failures).to_csv(path, index=False)
        print(f"{len(failures)} calls could not be fetched; see {path}", file=sys.stderr)


def _cmd_fetch(args: argparse.Namespace) -> int:
    out = Path(args.out)
    folder = args.out.endswith(("/", os.sep)) or out.is_dir()
    if not folder and out.suffix.lower() not in (".parquet", ".csv"):
        raise SystemExit(
            "apifonica-nb fetch: --out must end in .parquet or .csv, or be a folder (DIR/) "
            "for the partitioned dataset"
        )
    with _client(args) as client:
        df = _fetch_frame(args, client)
        account_sid = client.account_sid
    out.parent.mkdir(parents=True, exist_ok=True)
    if folder:
        files = write_dataset(df, out, account_sid=account_sid)
        print(f"{len(files)} Parquet files under {out}/account=…/month=…/", file=sys.stderr)
    elif out.suffix.lower() == ".parquet":
        df.to_parquet(out, index=False)
    else:
        df.to_csv(out, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
    cache = df.attrs.get("cache") or {}
    print(
        f"Wrote {len(df)} calls to {out} ({cache.get('hits', 0)} from the local cache)",
        file=sys.stderr,
    )
    _report_failures(df, out)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    out = Path(args.out)
    with _client(args) as client:
        df = _fetch_frame(args, client)
    for text in df.attrs.get("warnings", ()):
        print(f"warning: {text}", file=sys.stderr)
    path = report(df, out)
    print(f"Wrote the report of {len(df)} calls to {path}", file=sys.stderr)
    return 0


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"apifonica-nb demo: the server exited early (code {proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError as exc:
            exc.close()
            return  # it answers, even if not to this URL without credentials
        except OSError:
            time.sleep(0.25)
    raise SystemExit(f"apifonica-nb demo: the server did not answer within {seconds:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _cmd_demo(args: argparse.Namespace) -> int:
    folder = demo_folder(args.workdir, args.notebooks)
    env = dict(os.environ)
    sb = None
    if args.sandbox or not os.environ.get("APIFONICA_ACCOUNT_SID"):
        from . import sandbox

        sb = sandbox.start(calls=args.calls, seed=args.seed, now=DEMO_NOW)
        env.update(
            APIFONICA_ACCOUNT_SID=sb.account_sid,
            APIFONICA_AUTH_TOKEN=sb.auth_token,
            APIFONICA_BASE_URL=sb.url,
        )
        extra = len(sb.call_sids) - args.calls  # the fraud night comes on top of the seeded
        night = f" and a fraud night of {extra:,}" if extra > 0 else ""
        print(
            f"Sandbox: {len(sb.call_sids):,} calls ({args.calls:,} seeded{night}) at {sb.url}",
            flush=True,
        )
    print(folder.describe(), flush=True)
    token = secrets.token_hex(16)
    if args.voila:
        cmd = voila_command(folder.path, port=args.port, token=token)
        url = f"http://127.0.0.1:{args.port}/?token={token}"
    else:
        cmd = lab_command(folder.path, port=args.port, token=token)
        first = "01-quickstart.ipynb" if (folder.path / "01-quickstart.ipynb").exists() else None
        url = f"http://127.0.0.1:{args.port}/lab/tree/{first or DASHBOARD.name}?token={token}"
    # Own process group: Ctrl-C reaches this command, which then stops the server cleanly.
    # SIGTERM (kill, a container stop, `timeout`) must do the same, or the server outlives us.
    # The server runs in the working folder: the kernels' exports land there too.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    proc = subprocess.Popen(
        cmd, env=env, cwd=folder.path, start_new_session=True, stdin=subprocess.DEVNULL
    )
    try:
        _wait_until_up(url, proc, 90)
        print(f"Open {url}\nPress Ctrl-C to stop.", flush=True)
        if not args.no_browser:
            webbrowser.open(url)
        return proc.wait()
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
        return 0
    finally:
        _stop(proc)
        if sb is not None:
            sb.stop()
        signal.signal(signal.SIGTERM, previous)  # a caller's own handler is back in force


def _cmd_sandbox(args: argparse.Namespace, rest: list[str]) -> int:
    from .sandbox.__main__ import main as sandbox_main

    return sandbox_main(rest)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="apifonica-nb",
        description="Investigate Apifonica call records: sandbox, summaries, exports, reports.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "sandbox",
        help="serve the API simulator on 127.0.0.1 until Ctrl-C (see 'sandbox --help')",
        add_help=False,
    )
    summary = sub.add_parser(
        "summary", help="print calls by status, cost by channel and the KPIs of the call history"
    )
    _add_source_options(summary)
    summary.add_argument("--since", help="first day (YYYY-MM-DD, UTC)")
    summary.add_argument("--until", help="last day, included (YYYY-MM-DD, UTC)")
    summary.add_argument(
        "--by", nargs="+", default=["channel"], help="KPI groups: call columns (channel)"
    )
    summary.set_defaults(func=_cmd_summary)
    fetch = sub.add_parser(
        "fetch", help="fetch calls (history or a SID list) to a typed .parquet or .csv file"
    )
    _add_source_options(fetch)
    _add_selection_options(fetch)
    fetch.add_argument(
        "--out",
        required=True,
        help="output file, .parquet or .csv; or a folder, DIR/, for the partitioned Parquet "
        "dataset (the local store's layout: account=…/month=…/part-….parquet)",
    )
    fetch.set_defaults(func=_cmd_fetch)

    rep = sub.add_parser("report", help="write the standalone HTML report of the calls")
    _add_source_options(rep)
    _add_selection_options(rep)
    rep.add_argument("--out", default="report.html", help="output file (default report.html)")
    rep.set_defaults(func=_cmd_report)

    demo = sub.add_parser(
        "demo", help="serve JupyterLab (or Voila) on the example notebooks, wired to a sandbox"
    )
    _add_source_options(demo)
    demo.add_argument("--port", type=int, default=8888, help="port to serve on (default 8888)")
    demo.add_argument("--no-browser", action="store_true", help="only print the URL")
    demo.add_argument(
        "--voila", action="store_true", help="serve the explorer as a dashboard with Voila"
    )
    demo.add_argument(
        "--notebooks", help="folder of notebooks to copy (default: the project's examples)"
    )
    demo.add_argument(
        "--workdir",
        help="working folder the notebooks are copied to and served from (default: "
        "$APIFONICA_NB_DEMO_DIR, else 'demo' in the user data folder)",
    )
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``apifonica-nb`` command line; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:
        # The sandbox owns its options (it is also `python -m apifonica_nb.sandbox`).
        return _cmd_sandbox(argparse.Namespace(), argv[1:])
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ApifonicaError as exc:
        print(f"apifonica-nb: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("apifonica-nb: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
