"""Cost and billed minutes per destination country: :func:`cost_by_destination`."""

from __future__ import annotations

import html
from typing import Any

import narwhals as nw
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..errors import InvalidRequestError
from ..summary import UNKNOWN, ensure_columns, group_codes, lazy_frame
from ._colors import channel_color
from ._data import column_or_na, has_values
from ._layout import TEMPLATE, empty_figure, fmt_eur, titled
from ._lazy import grouped, label_codes

_BY_DESTINATION = "Cost and billed minutes by destination country"


def cost_by_destination(df: Any, *, top: int = 10) -> go.Figure:
    """Draw cost and billed minutes per destination country: the ``top`` by cost, then "other".

    Minutes are billed minutes (``duration`` / 60). Calls without a country are shown as
    "unknown"; bars are stacked by channel.

    ``df`` may be a lazy frame (``ap.cache.scan()``, Polars, Spark, ...): the engine sums
    per country and channel.

    >>> cost_by_destination(df, top=5)  # doctest: +SKIP
    """
    if top < 1:
        raise InvalidRequestError(f"top must be at least 1, not {top}")
    lf = lazy_frame(df)
    if lf is not None:
        return _lazy_cost_by_destination(lf, top=top)
    if not (has_values(df, ["cost_eur"]) or has_values(df, ["duration"])):
        return empty_figure(_BY_DESTINATION, "No cost data")
    channels, channel_idx = group_codes(column_or_na(df, "channel"))
    rows = pd.DataFrame(
        {
            "country": column_or_na(df, "destination_country").astype("str"),
            "channel": channel_idx,
            "cost": pd.to_numeric(column_or_na(df, "cost_eur"), errors="coerce").astype("float64"),
            "minutes": pd.to_numeric(column_or_na(df, "duration"), errors="coerce").astype(
                "float64"
            )
            / 60,
        }
    )
    return _draw_by_destination(rows, channels, top=top)


def _lazy_cost_by_destination(lf: nw.LazyFrame[Any], *, top: int) -> go.Figure:
    """The engine sums cost and billed seconds per country and channel; those come back."""
    lf = ensure_columns(lf, ["cost_eur", "duration", "destination_country", "channel"])
    country = nw.col("destination_country").cast(nw.String())
    keys = {
        "country_": country.fill_null(""),
        "no_country": country.is_null(),
    }
    table = grouped(
        lf,
        keys,
        nw.col("cost_eur").cast(nw.Float64()).sum().alias("cost"),
        nw.col("duration").cast(nw.Float64()).sum().alias("seconds"),
        nw.col("cost_eur").count().alias("priced"),
        nw.col("duration").count().alias("timed"),
        labels=["channel"],
    )
    if not (table["priced"].sum() or table["timed"].sum()):
        return empty_figure(_BY_DESTINATION, "No cost data")
    channels, channel_idx = label_codes(table, "channel")
    missing = table["no_country"].astype(bool).to_numpy()
    rows = pd.DataFrame(
        {
            "country": table["country_"].astype("str").mask(missing),
            "channel": channel_idx,
            "cost": table["cost"].astype("float64").fillna(0.0),
            "minutes": table["seconds"].astype("float64").fillna(0.0) / 60,
        }
    )
    return _draw_by_destination(rows, channels, top=top)


def _draw_by_destination(rows: pd.DataFrame, channels: list[str], *, top: int) -> go.Figure:
    """Draw cost and minutes per country and channel from per-call or per-group ``rows``
    (``country`` text or NA, ``channel`` index, ``cost``, ``minutes``): sums are sums."""
    title = _BY_DESTINATION
    country, cost, minutes = rows["country"], rows["cost"], rows["minutes"]
    ranking = (
        rows.groupby("country", dropna=True)[["cost", "minutes"]]
        .sum()
        .sort_values(["cost", "minutes"], ascending=False)
    )
    named = list(ranking.index[:top])
    # Countries past the top N fold into "other"; NA countries stay apart as "unknown".
    label = country.where(country.isin(named), "other").where(country.notna(), UNKNOWN)
    order = [*named, *(["other"] if len(ranking) > top else []), UNKNOWN]
    table = rows.assign(country=label).groupby(["country", "channel"])[["cost", "minutes"]].sum()
    # Drop groups with nothing to draw (e.g. "unknown" when those calls have no cost).
    drawn = table.groupby(level="country").sum().abs().sum(axis=1)
    order = [c for c in order if drawn.get(c, 0) > 0]
    if not order:
        return empty_figure(title, "No cost data")
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.04,
        subplot_titles=("cost (EUR)", "billed minutes (duration ÷ 60)"),
    )
    for k, channel in enumerate(channels):
        mine = table.xs(k, level="channel").reindex(order, fill_value=0.0)
        for col, (measure, unit) in enumerate((("cost", "EUR"), ("minutes", "min")), start=1):
            fig.add_trace(
                go.Bar(
                    name=channel,
                    legendgroup=channel,
                    showlegend=col == 1,
                    orientation="h",
                    y=order,
                    x=mine[measure].to_numpy(),
                    marker={"color": channel_color(channel), "line": {"width": 0}},
                    hovertemplate=(
                        f"{html.escape(channel)}: %{{x:,.2f}} {unit}<extra>%{{y}}</extra>"
                    ),
                    meta={"measure": measure},
                ),
                row=1,
                col=col,
            )
    fig.update_layout(
        title=titled(
            title,
            f"top {top} countries by cost, the rest as “other”; total "
            f"{fmt_eur(float(cost.sum()))}, {float(minutes.sum()):,.1f} billed minutes",
        ),
        template=TEMPLATE,
        barmode="stack",
        legend={"title": "channel", "traceorder": "normal"},
        height=max(420, 28 * len(order) + 200),
    )
    fig.update_yaxes(autorange="reversed", title_text="destination country (ISO)", row=1, col=1)
    fig.update_xaxes(title_text="EUR", row=1, col=1)
    fig.update_xaxes(title_text="minutes", row=1, col=2)
    return fig
