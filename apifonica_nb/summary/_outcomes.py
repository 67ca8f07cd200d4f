"""How the vendor's statuses map onto the outcomes every measure counts (defined once).

=============  ===============================================  ==========================
outcome        statuses                                         in the ratios (attempts)?
=============  ===============================================  ==========================
answered       ``completed``                                    yes
busy           ``busy``                                         yes
no_answer      ``no_answer``                                    yes
rejected       ``rejected`` (the callee refused the call)       yes
canceled       ``canceled`` (the caller gave up before answer)  yes
failed         ``failed``: the network failure                  yes
in_progress    ``queued``, ``initiated``, ``ringing``,          no: counted apart
               ``answered``, ``modified`` (not final yet)
unclassified   a missing status, or one the vendor never        no: counted apart
               documented
=============  ===============================================  ==========================

An *attempt* is a call that reached a final status (the first six rows). Calls in progress
may still end any way, so they are left out of every ratio and counted in ``in_progress``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._frame import column

#: The outcomes, in the order of the table above; a row's outcome code is its index here.
OUTCOMES: tuple[str, ...] = (
    "answered",
    "busy",
    "no_answer",
    "rejected",
    "canceled",
    "failed",
    "in_progress",
    "unclassified",
)
#: Outcome codes below this one are attempts (final statuses).
FINAL_OUTCOMES = 6
IN_PROGRESS = OUTCOMES.index("in_progress")
UNCLASSIFIED = OUTCOMES.index("unclassified")
_STATUS_OUTCOME = {
    "completed": "answered",
    "busy": "busy",
    "no_answer": "no_answer",
    "rejected": "rejected",
    "canceled": "canceled",
    "failed": "failed",
    "queued": "in_progress",
    "initiated": "in_progress",
    "ringing": "in_progress",
    "answered": "in_progress",
    "modified": "in_progress",
}


def outcome_codes(df: pd.DataFrame) -> np.ndarray:
    """Return each row's outcome code (an index into :data:`OUTCOMES`)."""
    status = column(df, "status")
    if isinstance(status.dtype, pd.CategoricalDtype):
        # Map the few categories, then index by the row codes: no per-row string work.
        per_category = np.array(
            [
                OUTCOMES.index(_STATUS_OUTCOME.get(str(c), "unclassified"))
                for c in status.cat.categories
            ]
            + [UNCLASSIFIED],
            dtype=np.int8,
        )
        return per_category[status.cat.codes.to_numpy()]
    text = status.astype("str").str.lower()
    codes = text.map({s: OUTCOMES.index(o) for s, o in _STATUS_OUTCOME.items()})
    return codes.fillna(UNCLASSIFIED).to_numpy(dtype=np.int8)
