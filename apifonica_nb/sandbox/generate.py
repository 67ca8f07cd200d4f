"""Generate the sandbox's seeded account (see :mod:`apifonica_nb.sandbox.data` for its shape).

Vectorised: every column of every call is drawn at once with numpy; the JSON bytes of the
finished calls are made here too, so serving them costs no formatting per request.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from apifonica_nb.sandbox.burst import burst_calls
from apifonica_nb.sandbox.data import (
    _CONTROLLERS,
    _COUNTRIES,
    _EXAMPLE_TS,
    _FIELDS,
    _FINAL_MIX,
    _HOUR_WEIGHT,
    _INBOUND_RATE,
    _LATEST_END,
    _OWN_PREFIXES,
    _OWN_WEIGHTS,
    _S,
    _TAGS,
    _TIMEOUTS,
    _VIBER_FACTOR,
    _WEEKDAY_WEIGHT,
    EXAMPLE_CALL,
    METHODS,
    STATUSES,
    Account,
    _Live,
    _live_codes,
    _numbers,
    _q,
    _rng,
    _uuid_bodies,
    credentials,
    format_rfc2822,
)

__all__ = ["generate_account"]


def _slot_times(rng: np.random.Generator, n: int, anchor: int) -> np.ndarray:
    """Draw ``n`` creation times over the 30 days before ``anchor``, busier in office hours."""
    starts = anchor - 3600 * np.arange(1, 30 * 24 + 1)
    hour = (starts // 3600) % 24
    weekday = (starts // 86400 + 3) % 7
    weight = _HOUR_WEIGHT[hour] * _WEEKDAY_WEIGHT[weekday]
    slot = rng.choice(len(starts), size=n, p=weight / weight.sum())
    return starts[slot] + rng.integers(0, 3600, size=n)


def generate_account(
    *,
    calls: int,
    seed: int,
    anchor: int,
    account_sid: str | None = None,
    auth_token: str | None = None,
    fraud_burst: bool = True,
) -> Account:
    """Generate the account: ``calls`` calls (the vendor's example among them) before ``anchor``.

    ``fraud_burst=True`` adds the toll-fraud-like night of :mod:`apifonica_nb.sandbox.burst`
    (calls beyond ``calls``; the others are the same with or without it). The result depends
    only on ``(seed, calls, anchor, fraud_burst)`` and the credential overrides.
    """
    if calls < 1:
        raise ValueError(f"calls must be at least 1 (the vendor's example call), got {calls}")
    default_sid, default_token = credentials(seed, calls, anchor, fraud_burst=fraud_burst)
    account_sid = account_sid or default_sid
    auth_token = auth_token or default_token
    rng = _rng(seed, 3)
    n_live = 0 if calls < 10 else max(1 if calls < 100 else 3, round(calls * 0.01))
    n_reg = calls - 1 - n_live
    n = n_reg + n_live  # generated calls; the example is appended last

    # Columns drawn for every generated call; the live calls get their timing rewritten below.
    created = _slot_times(rng, n, anchor)
    outbound = rng.random(n) < 0.7
    viber = rng.random(n) < 0.15
    country = rng.choice(len(_COUNTRIES), size=n, p=[c[1] for c in _COUNTRIES])
    which = rng.integers(0, 6, size=n)
    ext = _numbers(
        rng,
        [
            _COUNTRIES[c][3][w % len(_COUNTRIES[c][3])]
            for c, w in zip(country.tolist(), which.tolist(), strict=True)
        ],
    )
    own = rng.choice(len(_OWN_PREFIXES), size=n, p=_OWN_WEIGHTS)
    mix_names = [m[0] for m in _FINAL_MIX]
    status = np.array([_S[s] for s in mix_names], dtype=np.int8)[
        rng.choice(len(_FINAL_MIX), size=n, p=[m[1] for m in _FINAL_MIX])
    ]
    timeout = _TIMEOUTS[rng.choice(len(_TIMEOUTS), size=n, p=[0.25, 0.2, 0.3, 0.15, 0.1])]
    setup = np.minimum(2 + rng.gamma(2.0, 4.0, size=n), np.minimum(40, timeout - 1)).astype("int64")
    talk = np.clip(rng.lognormal(np.log(70), 0.95, size=n), 1, 7200).astype("int64")
    unit = rng.random(n)
    controller = rng.choice(len(_CONTROLLERS), size=n, p=[0.4, 0.3, 0.2, 0.1])
    post = rng.random(n) < 0.7
    tag_idx = rng.choice(len(_TAGS) + 1, size=n, p=[0.25, 0.1, 0.15, 0.15, 0.05, 0.3])
    recorded = rng.random(n) < 0.4
    lag = rng.integers(3, 61, size=n)
    rec_lag = rng.integers(0, 31, size=n) * recorded

    # When each final status ends the call, relative to creation.
    end_after = np.select(
        [
            status == _S["completed"],
            status == _S["no_answer"],
            status == _S["busy"],
            status == _S["failed"],
            status == _S["rejected"],
        ],
        [
            setup + talk,
            timeout + (unit * 3).astype("int64"),
            2 + (unit * 8).astype("int64"),
            (unit * 4).astype("int64"),
            3 + (unit * (np.minimum(20, timeout) - 3)).astype("int64"),
        ],
        default=2 + (unit * (timeout - 2)).astype("int64"),  # canceled
    )
    # Finished calls must be over (and billed) before the anchor: shift late ones back.
    created -= np.maximum(0, created + end_after + _LATEST_END - anchor)
    started = created + setup
    ended = created + end_after

    # Child legs: an inbound call answered by the IVR and forwarded to an outbound leg.
    parent = np.full(n, -1)
    regular = np.arange(n_reg)
    eligible = regular[
        (~outbound[:n_reg]) & (status[:n_reg] == _S["completed"]) & (talk[:n_reg] >= 45)
    ]
    others = np.setdiff1d(regular, eligible)
    n_child = min(round(0.1 * n_reg), len(others)) if len(eligible) else 0
    if n_child:
        kids = rng.choice(others, size=n_child, replace=False)
        dads = rng.choice(eligible, size=n_child)
        parent[kids] = dads
        created[kids] = started[dads] + rng.integers(1, 5, size=n_child)
        started[kids] = created[kids] + rng.integers(3, 16, size=n_child)
        ended[kids] = np.maximum(started[kids] + 1, ended[dads] - rng.integers(0, 3, size=n_child))
        status[kids] = _S["completed"]
        # About a third of forwarded legs ring out: the agent never picks up, and the
        # caller hears the IVR again. These are the calls support engineers get asked about.
        missed = kids[rng.random(n_child) < 0.3]
        status[missed] = _S["no_answer"]
        ended[missed] = np.minimum(
            created[missed] + timeout[missed], ended[dads[np.isin(kids, missed)]]
        )
        outbound[kids] = True
        viber[kids] = False
        for column in (own, controller, post, tag_idx):
            column[kids] = column[dads]

    rate = np.array([c[2] for c in _COUNTRIES])[country]
    n_burst = 0
    if fraud_burst:  # added after every other draw, so the rest of the account is unchanged
        extra = burst_calls(seed=seed, calls=calls, anchor=anchor)
        n_burst = len(extra["created"])
        ones, zeros = np.ones(n_burst, dtype=bool), np.zeros(n_burst, dtype=bool)
        created, started, ended = (
            np.concatenate([a, extra[k]])
            for a, k in ((created, "created"), (started, "started"), (ended, "ended"))
        )
        status = np.concatenate([status, np.full(n_burst, _S["completed"], dtype=status.dtype)])
        outbound, viber, post = np.r_[outbound, ones], np.r_[viber, zeros], np.r_[post, ones]
        recorded, rec_lag = np.r_[recorded, zeros], np.r_[rec_lag, zeros.astype(rec_lag.dtype)]
        own, timeout, lag = (
            np.r_[own, extra["own"]],
            np.r_[timeout, extra["timeout"]],
            np.r_[lag, extra["lag"]],
        )
        controller = np.r_[controller, np.full(n_burst, len(_CONTROLLERS) - 1)]
        tag_idx = np.r_[tag_idx, np.full(n_burst, len(_TAGS))]
        parent = np.r_[parent, np.full(n_burst, -1)]
        rate = np.r_[rate, extra["rate"]]
        ext = [*ext, *extra["ext"].tolist()]
    m = n + n_burst  # rows before the vendor's example
    answered = status == _S["completed"]
    duration = np.where(answered, ended - created, 0)
    rate = np.where(outbound, rate, _INBOUND_RATE) * np.where(viber, _VIBER_FACTOR, 1.0)
    price = np.round(rate * duration / 60, 4)
    live_recorded = recorded[n_reg:n].copy()
    recorded &= answered
    recorded[n_reg:n] = False  # a live call's recording appears only once it is billed
    updated = ended + lag + rec_lag * recorded

    # Live calls: the last n_live generated rows, created in the minutes before the anchor and
    # still in progress there (the newest one only just queued, so a real clock moves it soon).
    live_rows = np.arange(n_reg, n)
    plan = np.zeros((n_live, 6), dtype="int64")
    if n_live:
        steps = np.column_stack(
            [
                rng.integers(1, 4, size=n_live),  # queued
                rng.integers(1, 4, size=n_live),  # initiated
                rng.integers(4, 26, size=n_live),  # ringing
                np.clip(talk[live_rows], 20, 900),  # answered (+ modified)
            ]
        )
        steps[0, :2] = 1
        span = steps.sum(axis=1)
        back = (rng.random(n_live) * span * 0.95).astype("int64")
        back[0] = 0
        if n_live > 1:  # the call that gets modified is in its modified phase at the anchor
            back[1] = steps[1, :3].sum() + steps[1, 3] // 2 + 1
        c0 = anchor - back
        created[live_rows] = c0
        plan[:, 0] = c0 + steps[:, 0]
        plan[:, 1] = plan[:, 0] + steps[:, 1]
        plan[:, 2] = plan[:, 1] + steps[:, 2]
        plan[:, 4] = plan[:, 2] + steps[:, 3]
        plan[:, 3] = plan[:, 4] + 1  # "modified" never happens ...
        if n_live > 1:  # ... except for the second one, modified halfway through its talk
            plan[1, 3] = plan[1, 2] + steps[1, 3] // 2
        plan[:, 5] = plan[:, 4] + rng.integers(5, 61, size=n_live)
        outbound[live_rows] = True
        parent[live_rows] = -1
        price[live_rows] = np.round(rate[live_rows] * (plan[:, 4] - c0) / 60, 4)
    status[live_rows] = _live_codes(plan, anchor)

    sid_rng = _rng(seed, 4)
    sids = ["cal" + u for u in _uuid_bodies(sid_rng, n + 1)]
    rec_sids = ["rec" + u for u in _uuid_bodies(sid_rng, n)]
    if n_burst:  # the burst's SIDs come from a stream of their own, the example's SID stays
        burst_rng = _rng(seed, 6)
        sids = [*sids[:n], *("cal" + u for u in _uuid_bodies(burst_rng, n_burst)), sids[n]]
        rec_sids += ["rec" + u for u in _uuid_bodies(burst_rng, n_burst)]
    own_numbers = _numbers(_rng(seed, 2), list(_OWN_PREFIXES))
    own_numbers[0] = EXAMPLE_CALL["from"]
    num_sids = ["num" + u for u in _uuid_bodies(_rng(seed, 2), len(own_numbers))]
    own_str = np.array(own_numbers)[own]
    ext_str = np.array(ext)
    from_ = np.where(outbound, own_str, ext_str)
    to = np.where(outbound, ext_str, own_str)
    tags = np.array([*_TAGS, ""])[tag_idx]

    acc_json = json.dumps(account_sid)
    ctl = [json.dumps(c) for c in _CONTROLLERS]
    num_json = [_q(s) for s in num_sids]
    parent_json = [_q(sids[p]) if p >= 0 else "null" for p in parent.tolist()]
    dates = [format_rfc2822(col) for col in (created, updated, started, ended)]
    cols = zip(
        sids[:m],
        parent_json,
        *dates,
        from_.tolist(),
        to.tolist(),
        outbound.tolist(),
        status.tolist(),
        controller.tolist(),
        post.tolist(),
        timeout.tolist(),
        answered.tolist(),
        duration.tolist(),
        price.tolist(),
        recorded.tolist(),
        rec_sids,
        tags.tolist(),
        viber.tolist(),
        own.tolist(),
        strict=True,
    )
    # A template is ~5x faster than json.dumps per call; every value is generated here from
    # plain ASCII alphabets, and the caller-supplied account SID goes through json.dumps.
    call_json: list[bytes | None] = [
        (
            f'{{"call_sid":"{sid}","parent_call_sid":{par},"created":"{c}",'
            f'"account_sid":{acc_json},"from":"{f}","to":"{t}",'
            f'"direction":"{"outbound" if ob else "inbound"}","status":"{STATUSES[st]}",'
            f'"controller":{ctl[ct]},"method":"{METHODS[po]}","timeout":{tmo},'
            f'"updated":"{u}","started":{_q(s) if an else "null"},"ended":"{e}",'
            f'"duration":{du},"price":{pr!r},"record_sid":{_q(rs) if rc else "null"},'
            f'"tag":{_q(tg) if tg else "null"},"channel":"{"viber" if vb else "number"}",'
            f'"number_sid":{num_json[ow]}}}'
        ).encode()
        for sid, par, c, u, s, e, f, t, ob, st, ct, po, tmo, an, du, pr, rc, rs, tg, vb, ow in cols
    ]
    # Live calls are rendered at request time from their plan; keep what creation fixed.
    live_static: list[dict[str, Any]] = []
    for r in live_rows.tolist():
        static = json.loads(call_json[r] or b"{}")
        static.update(
            parent_call_sid=None,
            started=None,
            ended=None,
            duration=None,
            price=None,
            record_sid=None,
        )
        live_static.append(static)
        call_json[r] = None

    # The vendor's example: the oldest call, its own parent, as documented.
    example_sid = sids[m]
    example = {"call_sid": example_sid, "parent_call_sid": example_sid, "account_sid": account_sid}
    example.update(EXAMPLE_CALL, number_sid=num_sids[0])
    call_json.append(json.dumps({k: example[k] for k in _FIELDS}, separators=(",", ":")).encode())

    # Newest first; the call SID breaks ties so the order is total and stable across pages.
    all_created = np.append(created, _EXAMPLE_TS[0])
    all_sids = np.array(sids)
    order = np.lexsort((all_sids, -all_created))
    ordered = order.tolist()
    rank = np.empty(m + 1, dtype="int64")
    rank[order] = np.arange(m + 1)

    recordings = _recordings(
        sids, rec_sids, recorded, started, ended, rank, example_sid, EXAMPLE_CALL["record_sid"]
    )
    live = _Live(
        rows=rank[live_rows],
        t=plan,
        price=price[live_rows],
        record_sid=[
            rec_sids[r] if flag else None
            for r, flag in zip(live_rows.tolist(), live_recorded.tolist(), strict=True)
        ],
        static=live_static,
    )
    return Account(
        account_sid=account_sid,
        auth_token=auth_token,
        anchor=anchor,
        call_sids=[sids[i] for i in ordered],
        created=all_created[order],
        status=np.append(status, _S["completed"]).astype(np.int8)[order],
        direction=np.append(outbound, True).astype(np.int8)[order],
        channel=np.append(viber, False).astype(np.int8)[order],
        tag=np.append(tags, EXAMPLE_CALL["tag"])[order],
        from_=np.append(from_, EXAMPLE_CALL["from"])[order],
        to=np.append(to, EXAMPLE_CALL["to"])[order],
        call_json=[call_json[i] for i in ordered],
        example_call_sid=example_sid,
        recordings=recordings,
        live=live,
    )


def _recordings(
    sids: list[str],
    rec_sids: list[str],
    recorded: np.ndarray,
    started: np.ndarray,
    ended: np.ndarray,
    rank: np.ndarray,
    example_sid: str,
    example_rec: str,
) -> list[dict[str, Any]]:
    """List the recordings of finished recorded calls, newest call first (rec_url left out)."""
    rows = np.flatnonzero(recorded)
    rows = rows[np.argsort(rank[rows])]
    talk = (ended[rows] - started[rows]).tolist()
    out = []
    for r, seconds in zip(rows.tolist(), talk, strict=True):
        size = round(seconds * 16_000 / 1_048_576, 2)  # 8 kHz 16-bit mono WAV
        out.append(
            {
                "record_sid": rec_sids[r],
                "call_sid": sids[r],
                "size": size,
                "price": round(size * 0.0005, 6),
            }
        )
    out.append({"record_sid": example_rec, "call_sid": example_sid, "size": 0.09, "price": 4.5e-05})
    return out
