"""The explorer's connection section: the given client, or credentials, or a sandbox.

Where the explorer decides "real API or sandbox" today (``APIFONICA_*`` prefill, the Source
toggle, starting the bundled sandbox); the one place to swap for ``connect()``.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ..client import DEFAULT_BASE_URL, Client
from ..connect import DEMO_NOW
from ._part import WIDE, Part

if TYPE_CHECKING:
    from ..sandbox import Sandbox

__all__ = ["ConnectionForm"]


class ConnectionForm(Part):
    """Say which account a given client reaches, or ask for one (the token never in a widget).

    Without a client, the fields are prefilled from ``APIFONICA_*``; the Source toggle picks
    the Apifonica API (account SID, token, base URL) or a seeded sandbox started on demand.
    A typed token is moved out of the Password widget at once, so no widget state holds it.
    """

    def __init__(self, client: Client | None, *, sandbox_calls: int, sandbox_seed: int) -> None:
        self._given = client
        self._built: Client | None = None  # the client made from the fields
        self._token = ""
        self._sandbox: Sandbox | None = None
        self._sandbox_calls = sandbox_calls
        self._sandbox_seed = sandbox_seed
        self.source = widgets.ToggleButtons(
            options=[("Apifonica API", "api"), ("Sandbox", "sandbox")],
            description="Source",
            style=WIDE,
        )
        self.account_sid = widgets.Text(description="Account SID", placeholder="acc…", style=WIDE)
        # continuous_update=False: the value arrives once (Enter or leaving the field), so the
        # token can be moved out of the widget without cutting the user's typing short.
        self.auth_token = widgets.Password(
            description="Auth token",
            placeholder="paste it, then press Enter",
            continuous_update=False,
            style=WIDE,
        )
        self.token_status = widgets.Label("no token set")
        self.base_url = widgets.Text(description="Base URL", value=DEFAULT_BASE_URL, style=WIDE)
        self.connection_status = widgets.HTML()
        self.auth_token.observe(self._take_token, names="value")
        for field in (self.source, self.account_sid, self.base_url):
            field.observe(self._changed, names="value")
        if client is not None:
            self.connection_status.value = (
                f"Connected as account <code>{html.escape(client.account_sid)}</code> "
                f"at <code>{html.escape(client.base_url)}</code>."
            )
            body: widgets.Widget = self.connection_status
            title = f"Connection ✓ {client.account_sid}"
        else:
            self._prefill()
            body = widgets.VBox(
                [
                    self.source,
                    self.account_sid,
                    widgets.HBox([self.auth_token, self.token_status]),
                    self.base_url,
                    self.connection_status,
                ]
            )
            title = "Connection"
            self._changed()
        self.connection = widgets.Accordion([body], titles=(title,))
        self.connection.selected_index = None if client is not None else 0

    def _prefill(self) -> None:
        env_sid = os.environ.get("APIFONICA_ACCOUNT_SID", "")
        env_token = os.environ.get("APIFONICA_AUTH_TOKEN", "")
        self.account_sid.value = env_sid
        self.base_url.value = os.environ.get("APIFONICA_BASE_URL") or DEFAULT_BASE_URL
        if env_token:
            self._token = env_token.strip()
            self.token_status.value = "token set ✓ (from APIFONICA_AUTH_TOKEN)"
        self.source.value = "api" if env_sid else "sandbox"

    def _take_token(self, change: dict[str, Any]) -> None:
        """Move a typed token out of the Password widget, so no widget state ever holds it."""
        value = str(change["new"] or "")
        if not value:
            return
        self._token = value.strip()
        self.auth_token.value = ""
        self.token_status.value = "token set ✓" if self._token else "no token set"
        self._built = None

    def _changed(self, _change: object = None) -> None:
        self._built = None
        api = self.source.value == "api"
        for control in (self.account_sid, self.auth_token, self.base_url):
            control.disabled = not api
        if api:
            self.connection_status.value = ""
        elif self._sandbox is None:
            self.connection_status.value = (
                f"A local sandbox ({self._sandbox_calls} seeded calls) starts on Fetch."
            )

    def client(self, say: Callable[[str], None]) -> Client:
        """Return the client to fetch with: the one given, the sandbox's, or the fields'.

        ``say`` shows a short progress note (starting the sandbox takes a moment).
        """
        if self._given is not None:
            return self._given
        if self._built is not None:
            return self._built
        if self.source.value == "sandbox":
            if self._sandbox is None:
                from .. import sandbox  # deferred: only a sandbox user needs the server

                say("starting the sandbox…")
                self._sandbox = sandbox.start(
                    calls=self._sandbox_calls, seed=self._sandbox_seed, now=DEMO_NOW
                )
                self.connection_status.value = (
                    f"Sandbox running at <code>{html.escape(self._sandbox.url)}</code> "
                    f"({len(self._sandbox.call_sids)} calls, clock frozen at {DEMO_NOW})."
                )
            self._built = self._sandbox.client()
        else:
            self._built = Client(
                account_sid=self.account_sid.value,
                auth_token=self._token,
                base_url=self.base_url.value.strip() or DEFAULT_BASE_URL,
            )
        return self._built

    def mask(self, text: str) -> str:
        """Return ``text`` with the token replaced by ``***`` (for error messages)."""
        return text.replace(self._token, "***") if self._token else text

    def close(self) -> None:
        """Stop the sandbox this form started, then close its widgets."""
        if self._sandbox is not None:
            self._sandbox.stop()
            self._sandbox = None
        super().close()
