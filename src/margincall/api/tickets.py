"""Single-use, short-lived tickets that stand for an API key where a client cannot send headers (a browser's
WebSocket): the key stays in a header of the request that asks for the ticket, never in a URL."""

from __future__ import annotations

import secrets
import threading

from margincall.api.clock import now_ms
from margincall.api.keys import Principal

#: How long a stream ticket may wait for its connection.
TICKET_TTL_MS = 30_000


class Tickets:
    """Single-use, short-lived stream tickets: ticket → (principal, expiry in ms)."""

    def __init__(self, ttl_ms: int = TICKET_TTL_MS) -> None:
        self.ttl_ms = ttl_ms
        self._lock = threading.Lock()
        self._open: dict[str, tuple[Principal, int]] = {}

    def issue(self, who: Principal) -> str:
        ticket = secrets.token_urlsafe(24)
        at = now_ms()
        with self._lock:
            self._open = {t: v for t, v in self._open.items() if v[1] > at}
            self._open[ticket] = (who, at + self.ttl_ms)
        return ticket

    def redeem(self, ticket: str) -> Principal | None:
        """The principal of ``ticket`` once (None when unknown, used or expired)."""
        with self._lock:
            found = self._open.pop(ticket, None)
        if found is None or found[1] <= now_ms():
            return None
        return found[0]
