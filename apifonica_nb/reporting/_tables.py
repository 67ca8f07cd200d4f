"""Tables a person reads: money with its currency, rates, percentages, counts, blanks for NA.

One function formats every number the report (and the explorer) shows, so a cost reads the
same everywhere: :func:`format_value` for one value, :func:`format_table` for a frame as an
HTML table whose numbers are right-aligned and whose missing values are blank.

>>> format_value(1234.5, "money")
'1,234.50 EUR'
>>> format_value(None, "ratio")
'no calls to measure'
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import pandas as pd

__all__ = ["NUMERIC_KINDS", "TABLE_CSS", "Kind", "format_table", "format_value", "guess_kind"]

#: How a column is shown: ``count`` (whole numbers), ``number`` (one decimal), ``minutes``
#: (one decimal), ``money`` (2 decimals and the currency), ``price`` (one call's amount: 4
#: decimals and the currency), ``rate`` (per minute: 4 decimals, "EUR/min"), ``percent`` (a
#: 0–1 share as a percentage), ``ratio`` (a percentage that says "no calls to measure" when
#: missing), ``time`` (UTC, to the second) or ``text``.
Kind = Literal[
    "count", "number", "minutes", "money", "price", "rate", "percent", "ratio", "time", "text"
]
#: The kinds shown right-aligned.
NUMERIC_KINDS = frozenset(
    {"count", "number", "minutes", "money", "price", "rate", "percent", "ratio"}
)
#: What a ratio with nothing under it says, instead of a misleading 0.0 %.
NOTHING_TO_MEASURE = "no calls to measure"

#: Styles for :func:`format_table`'s markup (scoped to ``table.apifonica-table``).
TABLE_CSS = """
table.apifonica-table { border-collapse: collapse; font-size: .85rem; }
table.apifonica-table th, table.apifonica-table td { padding: .2rem .6rem;
  border-bottom: 1px solid #e6e6e6; white-space: nowrap; }
table.apifonica-table th { text-align: left; background: #fafafa; }
table.apifonica-table .num { text-align: right; font-variant-numeric: tabular-nums; }
table.apifonica-table .none { color: #777; font-style: italic; }
table.apifonica-table tfoot th { border-top: 1px solid #bbb; }
"""


def _missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _fixed(number: float, places: int) -> str:
    """Round half up in decimal (34.075 EUR is 34.08, as a person rounds it), with separators."""
    exact = Decimal(repr(round(number, 9))).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    return f"{exact + 0:,.{places}f}"  # + 0 turns -0.00 into 0.00


def format_value(value: object, kind: Kind, *, currency: str = "EUR") -> str:
    """Return ``value`` as text for a reader, by ``kind`` (see :data:`Kind`); "" when missing.

    A missing ``ratio`` says "no calls to measure" instead (an answer rate of nothing).
    """
    if _missing(value):
        return NOTHING_TO_MEASURE if kind == "ratio" else ""
    if kind == "text":
        return str(value)
    if kind == "time":
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC")
        return f"{stamp:%Y-%m-%d %H:%M:%S}"
    number = float(value)  # type: ignore[arg-type]
    if math.isinf(number):
        return str(number)
    if kind == "count":
        return _fixed(number, 0)
    if kind in ("number", "minutes"):
        return _fixed(number, 1)
    if kind == "money":
        return f"{_fixed(number, 2)} {currency}"
    if kind == "price":
        return f"{_fixed(number, 4)} {currency}"
    if kind == "rate":
        return f"{_fixed(number, 4)} {currency}/min"
    if kind in ("percent", "ratio"):
        return f"{_fixed(number * 100, 1)}%"
    raise ValueError(f"unknown kind {kind!r}")


def guess_kind(name: str, dtype: object) -> Kind:
    """Guess how to show a column from its name and dtype (``kinds=`` overrides it)."""
    lowered = name.lower()
    if pd.api.types.is_bool_dtype(dtype):  # type: ignore[arg-type]
        return "text"
    if pd.api.types.is_numeric_dtype(dtype):  # type: ignore[arg-type]
        if "per_minute" in lowered or lowered.endswith("_per_min"):
            return "rate"
        if lowered.endswith("_eur") or lowered.startswith("cost") or lowered == "price":
            return "money"
        if lowered.endswith("rate"):
            return "ratio"
        if lowered in ("share", "percent") or lowered.endswith("_share"):
            return "percent"
        if "minutes" in lowered:
            return "minutes"
        return "count" if pd.api.types.is_integer_dtype(dtype) else "number"  # type: ignore[arg-type]
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype):  # type: ignore[arg-type]
        return "time"
    return "text"


def _cell(tag: str, value: object, kind: Kind, currency: str, prefix: str = "") -> str:
    text = format_value(value, kind, currency=currency)
    classes = []
    if kind in NUMERIC_KINDS:
        classes.append("num")
    if text == NOTHING_TO_MEASURE:
        classes.append("none")
    attr = f' class="{" ".join(classes)}"' if classes else ""
    return f"<{tag}{attr}>{prefix}{html.escape(text)}</{tag}>"


def format_table(
    df: pd.DataFrame,
    *,
    kinds: Mapping[str, Kind] | None = None,
    labels: Mapping[str, str] | None = None,
    currency: str = "EUR",
    index: bool = True,
    footer: Mapping[str, object] | None = None,
    footer_label: str = "total",
    marker: Callable[[object], str] | None = None,
    attrs: str = "",
    classes: str = "",
) -> str:
    """Return ``df`` as an HTML table a person reads (every string escaped).

    ``kinds`` says how to show each column (see :data:`Kind`; guessed from the name and dtype
    otherwise); ``labels`` renames headers; ``index`` shows the index as the first column(s);
    ``footer`` is a row of totals (column -> value, shown with the same kinds); ``marker``
    returns markup put before an index value (the report's colour swatch); ``attrs`` goes
    into the ``<table>`` tag and ``classes`` into its class. Numbers are right-aligned
    (class ``num``), missing values blank.

    >>> table = ap.summary.by_column(df, "status")  # doctest: +SKIP
    >>> format_table(table, kinds={"cost_eur": "money"})  # doctest: +SKIP
    """
    chosen = dict(kinds or {})
    names = list(df.columns)
    shown_kinds = [chosen.get(str(c), guess_kind(str(c), df[c].dtype)) for c in names]
    rename: dict[str, str] = {str(k): v for k, v in (labels or {}).items()}
    index_names = [str(n) if n is not None else "" for n in df.index.names] if index else []
    header = "".join(f"<th>{html.escape(rename.get(n, n))}</th>" for n in index_names)
    header += "".join(
        f"<th{' class=num' if k in NUMERIC_KINDS else ''}>{html.escape(rename.get(c, c))}</th>"
        for c, k in zip(map(str, names), shown_kinds, strict=True)
    )
    columns = [df[c].tolist() for c in names]
    keys = df.index.tolist()
    rows = []
    for i, key in enumerate(keys):
        cells = ""
        if index:
            parts = key if isinstance(key, tuple) else (key,)
            for j, part in enumerate(parts):
                mark = marker(part) if marker is not None and j == 0 else ""
                cells += _cell("td", part, "text", currency, prefix=mark)
        cells += "".join(
            _cell("td", col[i], k, currency) for col, k in zip(columns, shown_kinds, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    foot = ""
    if footer is not None:
        pad = "".join("<th></th>" for _ in index_names[1:])
        first = f"<th>{html.escape(footer_label)}</th>{pad}" if index else ""
        foot = "<tfoot><tr>" + first
        foot += "".join(
            _cell("th", footer[c], k, currency) if c in footer else "<th></th>"
            for c, k in zip(names, shown_kinds, strict=True)
        )
        foot += "</tr></tfoot>"
    space = f" {attrs}" if attrs else ""
    return (
        f'<table class="apifonica-table {classes}"{space}><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody>{foot}</table>"
    )
