"""Message limits: the per-session rate limiter and the notices for a message sent too fast or too long."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """At most `per_minute` events per key in any sliding 60-second window (thread-safe)."""

    WINDOW_S = 60.0

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 50_000):
        self.per_minute = per_minute
        self._clock = clock
        self._max_keys = max_keys
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> float:
        """Record an event for `key` and return 0, or return the seconds to wait (nothing recorded)."""
        now = self._clock()
        with self._lock:
            events = self._events.get(key)
            if events is None:
                if len(self._events) >= self._max_keys:
                    self._prune(now)
                events = self._events[key] = deque()
            while events and now - events[0] >= self.WINDOW_S:
                events.popleft()
            if len(events) >= self.per_minute:
                return max(0.1, self.WINDOW_S - (now - events[0]))
            events.append(now)
            return 0.0

    def _prune(self, now: float) -> None:
        for key in [k for k, ev in self._events.items() if not ev or now - ev[-1] >= self.WINDOW_S]:
            del self._events[key]


def rate_limit_text(wait_s: float, per_minute: int) -> str:
    seconds = max(1, math.ceil(wait_s))
    return (
        f"You're sending messages faster than I can answer (the limit is {per_minute} a minute). "
        f"Please wait about {seconds} second{'s' if seconds != 1 else ''} and try again."
    )


def too_long_text(length: int, limit: int) -> str:
    return (
        f"Your message is {length:,} characters long, and the limit is {limit:,}. "
        "Please shorten it (one question at a time works best) and send it again."
    )
