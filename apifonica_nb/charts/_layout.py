"""What every figure's layout shares: the template, titles, the time axis, the empty figure."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import plotly.graph_objects as go

from ._buckets import Focus

TEMPLATE = "plotly_white"


def empty_figure(title: str, message: str) -> go.Figure:
    """Return a figure that says why there is nothing to draw."""
    fig = go.Figure()
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": message,
                "showarrow": False,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "font": {"size": 18, "color": "#555"},
            }
        ],
    )
    return fig


def time_axis(title: str, focus: Focus | None) -> dict[str, object]:
    """Return a date x-axis, starting on the focus window when there is one."""
    axis: dict[str, object] = {"title": title, "type": "date"}
    if focus is not None:
        axis["range"] = focus.xrange()
    return axis


def count_axis(title: str, top: float) -> dict[str, object]:
    """Return a y-axis of call counts: whole-number ticks (never 0.2, 0.4), from zero.

    ``top`` is the tallest bar; up to 8 calls every count gets a tick, beyond that plotly's
    own ticks are whole numbers once the format is.
    """
    axis: dict[str, object] = {"title": title, "tickformat": ",d", "rangemode": "tozero"}
    if top <= 8:
        axis.update(tick0=0, dtick=1)
    return axis


def join_subtitle(*parts: str) -> str:
    return " · ".join(part for part in parts if part)


def fmt_eur(value: float) -> str:
    """Format an amount in euros with enough decimals for per-call prices.

    Rounded half up in decimal (25.215 is 25.22), as the report's tables round it, so a
    chart's total and the report's never differ by a cent.
    """
    value = round(value, 9)  # float sums like 34.0749999999 are 34.075
    places = 2 if abs(value) >= 1 or value == 0 else 4
    exact = Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    return f"{exact + 0:,.{places}f} EUR"


def titled(text: str, subtitle: str = "") -> dict[str, object]:
    title: dict[str, object] = {"text": text}
    if subtitle:
        title["subtitle"] = {"text": subtitle}
    return title
