"""Token-bucket rate limiting per API key on the ingestion endpoints.

Each key has a bucket of ``burst`` tokens refilled at ``rate`` tokens per second; a request costs one token
per item (fill, mark, deposit), at most ``burst``. A request the bucket cannot pay is refused whole with 429 and a
``Retry-After`` (whole seconds until enough tokens are back); it takes no tokens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBuckets:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._state: dict[str, tuple[float, float]] = {}  # key id -> (tokens, at)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str, cost: int = 1) -> float:
        """Take ``cost`` tokens from ``key``'s bucket: 0.0 when allowed, else the seconds to wait."""
        if not self.enabled:
            return 0.0
        cost = min(max(cost, 1), self.burst)  # a batch larger than the burst empties the bucket
        with self._lock:
            now = self._clock()
            tokens, at = self._state.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= cost:
                self._state[key] = (tokens - cost, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (cost - tokens) / self.rate
