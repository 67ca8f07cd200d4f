"""Spend per group over time with the flagged buckets marked: :func:`cost_anomalies`."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from ..summary import cost_baseline, lazy_frame
from ._buckets import find_focus, freq_word
from ._data import column_or_na, wall_clock, zone_label
from ._layout import TEMPLATE, empty_figure, fmt_eur, join_subtitle, time_axis, titled
from ._lazy import lazy_focus

_FLAG_COLOR = "#d62728"
_PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f", "#e377c2")


def cost_anomalies(
    df: Any,
    *,
    by: str | Sequence[str] = "destination_country",
    freq: str = "D",
    tz: str | None = None,
    top: int = 6,
) -> go.Figure:
    """Draw spend per ``freq`` bucket for the ``top`` groups by spend and every flagged one,
    with :func:`apifonica_nb.cost_anomalies`' flags marked (red ✕, the trailing baseline
    dotted) and named in the title.

    ``df`` may be a lazy frame (``ap.cache.scan()``, Polars, Spark, ...): it goes to
    :func:`apifonica_nb.summary.cost_baseline` as it is, and the window is found in the engine.

    >>> cost_anomalies(df)  # the sandbox's fraud night stands out  # doctest: +SKIP
    """
    title = "Spend per group over time, with anomalies"
    lf = lazy_frame(df)  # refuses a non-frame before any work
    table = cost_baseline(df, by=by, freq=freq, tz=tz)
    if table.empty:
        return empty_figure(title, "No priced calls")
    names = [c for c in table.columns if c in ([by] if isinstance(by, str) else list(by))]
    # Joined column by column: a row-wise agg takes seconds on years of daily buckets.
    label = table[names[0]].astype("str")
    for name in names[1:]:
        label = label + " / " + table[name].astype("str")
    table = table.assign(group=label, wall=wall_clock(table["period"], tz))
    spend = table.groupby("group", sort=False)["spend_eur"].sum().sort_values(ascending=False)
    flagged_groups = list(dict.fromkeys(table.loc[table["flagged"], "group"]))
    shown = list(dict.fromkeys([*flagged_groups, *spend.index[:top]]))
    if lf is not None:  # the window in the engine
        focus = lazy_focus(lf, "created", tz)[1]
    else:
        created = column_or_na(df, "created").dropna()
        focus = find_focus(wall_clock(created, tz)) if len(created) else None
    outside = ""
    if focus is not None:
        # Only the window's buckets are drawn: a stray 2017 call would add years of zeros.
        inside = (table["wall"] >= focus.start.floor("D")) & (table["wall"] <= focus.end)
        table = table.loc[inside | table["flagged"]]
        noun = "call" if focus.outside == 1 else "calls"
        outside = f"{focus.outside:,} {noun} outside this window not drawn"
    fig = go.Figure()
    for k, group in enumerate(shown):
        rows = table.loc[table["group"] == group]
        color = _PALETTE[k % len(_PALETTE)]
        fig.add_trace(
            go.Scatter(
                name=group,
                legendgroup=group,
                x=rows["wall"],
                y=rows["spend_eur"],
                mode="lines",
                line={"color": color, "width": 2 if group in flagged_groups else 1.2},
                hovertemplate=f"{html.escape(group)}: %{{y:,.2f}} EUR<extra>%{{x}}</extra>",
                meta={"group": group, "mark": "spend"},
            )
        )
        if group in flagged_groups:
            fig.add_trace(
                go.Scatter(
                    name=f"{group}: expected (trailing median)",
                    legendgroup=group,
                    x=rows["wall"],
                    y=rows["expected_eur"],
                    mode="lines",
                    line={"color": color, "width": 1, "dash": "dot"},
                    hovertemplate="expected %{y:,.2f} EUR<extra>%{x}</extra>",
                    meta={"group": group, "mark": "expected"},
                )
            )
    flags = table.loc[table["flagged"]]
    if len(flags):
        fig.add_trace(
            go.Scatter(
                name="flagged",
                x=flags["wall"],
                y=flags["spend_eur"],
                mode="markers",
                marker={"symbol": "x", "size": 12, "color": _FLAG_COLOR},
                customdata=flags[["expected_eur", "score"]].to_numpy(),
                hovertext=[
                    f"{html.escape(g)} ({kind}): {fmt_eur(o)}"
                    for g, kind, o in zip(
                        flags["group"], flags["kind"], flags["spend_eur"], strict=True
                    )
                ],
                hovertemplate=(
                    "%{hovertext}<br>expected %{customdata[0]:,.2f} EUR, "
                    "score %{customdata[1]:,.0f}<extra>%{x}</extra>"
                ),
                meta={"mark": "flag"},
            )
        )
    word = freq_word(freq)
    if len(flags):
        worst = flags.sort_values("spend_eur").iloc[-1]
        headline = (
            f"{len(flags)} flagged: {html.escape(worst['group'])} spent "
            f"{fmt_eur(float(worst['spend_eur']))} on {worst['wall']:%Y-%m-%d}"
        )
    else:
        headline = "no anomaly flagged"
    fig.update_layout(
        title=titled(
            f"Spend per {word} by {' / '.join(names)}: {headline}",
            join_subtitle(
                "flagged ✕: far above the group's own trailing median (robust score ≥ 5)",
                f"top {top} by spend shown" if len(spend) > len(shown) else "",
                outside,
            ),
        ),
        template=TEMPLATE,
        xaxis=time_axis(f"{word} ({zone_label(tz)})", focus),
        yaxis={"title": f"spend per {word} (EUR)", "rangemode": "tozero"},
        legend={"title": " / ".join(names), "traceorder": "normal"},
    )
    return fig
