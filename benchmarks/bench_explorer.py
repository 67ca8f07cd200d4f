"""Time the explorer's history fetch against fetch_history itself, on a remote-like sandbox.

Usage::

    python benchmarks/bench_explorer.py            # 600 calls, 30 ms latency, 5 runs
    python benchmarks/bench_explorer.py --quick    # 100 calls, one run (a smoke run)

The sandbox serves from its own process and waits 30 ms before every answer. The baseline is
``ap.fetch_history(client=..., cache=False)``; ours is ``CallExplorer(client=...).fetch()``
with the cache off, which calls the same verb with ``on_progress=``/``cancel=`` (no wrapper
client, so the parallel date windows stay on). Both are cold reads of the same account, and the
explorer's frame is checked to equal the verb's. The explorer's time is split into its fetch
and the drawing of what it shows (summary, table, chart tabs), timed on its own; the ratio is
the verb's median time over the explorer's fetch (the target is at least 0.9).
"""

from __future__ import annotations

import sys

import _common


def main() -> int:
    args = _common.parser(__doc__).parse_args()
    calls, runs = (100, 1) if args.quick else (600, 5)

    import pandas as pd

    import apifonica_nb as ap

    with _common.sandbox_process(calls, latency=0.03) as sb, _common.own_cache_dir():
        client = sb.client()

        def verb() -> pd.DataFrame:
            return ap.fetch_history(client=client, cache=False, progress=False)

        form = ap.widgets.CallExplorer(client=client)  # built once, as a notebook does
        form.cache.value = False
        form.max_calls.value = 0  # no cap: the whole history, as the verb reads it

        def explorer() -> pd.DataFrame:
            return form.fetch()  # the fetch, then the summary, table and charts it shows

        verb_s, expected = _common.median_of(verb, runs)
        form_s, got = _common.median_of(explorer, runs)
        # What the form adds after the fetch: summary, table and chart tabs of the frame.
        show_s, _ = _common.median_of(lambda: form._results.show(got, ""), runs)
        pd.testing.assert_frame_equal(got, expected)
    fetch_s = max(form_s - show_s, 1e-9)
    rows = [
        [f"{calls:,}", "fetch_history (cache off)", f"{verb_s:.2f}", runs, "1.00"],
        [f"{calls:,}", "explorer: fetch part", f"{fetch_s:.2f}", runs, f"{verb_s / fetch_s:.2f}"],
        [f"{calls:,}", "explorer: showing the frame", f"{show_s:.2f}", runs, ""],
        [f"{calls:,}", "explorer: CallExplorer.fetch()", f"{form_s:.2f}", runs, ""],
    ]
    _common.print_table(
        f"Explorer vs fetch_history, 30 ms latency ({_common.machine()})",
        ["calls", "what", "median s", "runs", "ratio"],
        rows,
    )
    print(
        f"ratio (fetch_history / the explorer's fetch): {verb_s / fetch_s:.2f} (target >= 0.9); "
        f"drawing the summary, table and charts adds {show_s:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
