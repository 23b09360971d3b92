"""How opening the session socket is retried: bounded, exponential, jittered.

Its own module because both the endpoint settings (:mod:`._endpoint`, which reads the policy
from the configuration) and the connection loop (:mod:`.connection`) need it.
"""

from __future__ import annotations

import dataclasses

__all__ = ["RetryPolicy"]


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How connection attempts are retried: bounded, exponential, jittered.

    Every failed attempt is retried, a refused handshake included: a refusal can be transient
    (a deploy, a token just issued), and the bound keeps a wrong credential from retrying for long.

    The n-th retry waits ``min(max_delay, initial_delay * multiplier ** (n - 1))`` scaled by a
    random factor in ``[1 - jitter, 1]``, so many sessions refused at once do not come back in step.
    """

    attempts: int = 5
    initial_delay: float = 0.5
    max_delay: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be between 0 and 1")

    def delay(self, retry: int, rand: float) -> float:
        """Seconds to wait before retry number ``retry`` (1-based), ``rand`` in ``[0, 1)``."""
        base = min(self.max_delay, self.initial_delay * self.multiplier ** (retry - 1))
        return base * (1.0 - self.jitter * rand)
