"""Per-visitor rate limits: at most so many actions in any sliding window of time, with the wait until the next.

A visitor is a Gradio session; a client address gets ADDRESS_SHARE visitors' worth, so a script that opens a new
session for every call is still bounded, while a classroom behind one address still plays.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from .errors import InputError

ADDRESS_SHARE = 10  # an address may act as often as this many visitors
SWEEP_EVERY = 1024  # actions between forgetting idle visitors, so memory follows the visitors of one window


class RateLimited(InputError):
    """A visitor acted too often; `wait` (in the params) is the seconds until the next action is allowed."""


class SlidingWindowLimit:
    """At most `limit` actions per visitor, and `limit * ADDRESS_SHARE` per address, in any `seconds`; thread-safe.
    `limit` 0 means no limit. Refused attempts are not counted, so a visitor who waits is let in on time."""

    def __init__(
        self, limit: int, seconds: float, key: str, template: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.seconds, self.key, self.template, self.clock = limit, seconds, key, template, clock
        self._times: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._actions = 0

    def take(self, visitor: str | None, address: str | None = None) -> None:
        """Count one action of `visitor` (and its `address`), or raise RateLimited saying when to retry."""
        if not self.limit:
            return
        keys = {f"visitor:{visitor}": self.limit} if visitor else {}
        if address:
            keys[f"address:{address}"] = self.limit * ADDRESS_SHARE
        with self._lock:
            now = self.clock()
            waits = [self._wait(key, allowed, now) for key, allowed in keys.items()]
            if any(waits):
                raise RateLimited(
                    self.key, self.template, limit=self.limit, seconds=round(self.seconds), wait=math.ceil(max(waits))
                )
            for key in keys:
                self._times.setdefault(key, deque()).append(now)
            self._actions += 1
            if self._actions >= SWEEP_EVERY:
                self._sweep(now)

    def _wait(self, key: str, allowed: int, now: float) -> float:
        times = self._times.get(key)
        if times is None:
            return 0.0
        while times and times[0] <= now - self.seconds:
            times.popleft()
        return 0.0 if len(times) < allowed else times[0] + self.seconds - now

    def _sweep(self, now: float) -> None:
        self._times = {key: times for key, times in self._times.items() if times and times[-1] > now - self.seconds}
        self._actions = 0
