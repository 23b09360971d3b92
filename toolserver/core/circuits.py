"""Circuit breakers: stop calling a business system that keeps failing, and try it again later.

A voice agent waits on every tool call. When the CRM behind a plugin hangs, every call would wait
for its whole timeout, and every caller in every conversation would hear the same silence. A
circuit counts the failures of the system a group of tools call (a plugin's *upstream*): after
``failures`` timeouts or crashes within ``window`` seconds it **opens**, and calls are answered at
once (with the tool's fallback, or an "unavailable" answer the agent can speak) without touching
the system. After ``cooldown`` seconds one call goes through as a **probe**: its success closes
the circuit, its failure opens it for another cooldown. While the probe runs, other calls are
still answered at once.

What counts as a failure: a timeout and an unexpected crash (the system is down or broken). A
:class:`~toolserver.core.errors.ToolError` is an answer, invalid arguments are the caller's, and
a refusal (rate limit) never reached the system: none of those count.

Where the state is kept is a store's business (:class:`Circuits`): one process
(:class:`~toolserver.stores.memory.MemoryCircuits`) or every replica through Redis
(:class:`~toolserver.stores.redis.RedisCircuits`), so a replica learns that the CRM is down from
the others' failures.
"""

from __future__ import annotations

import abc
import dataclasses
import enum

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "Circuit", "CircuitPolicy", "Circuits", "Passage"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclasses.dataclass(frozen=True, slots=True)
class CircuitPolicy:
    """When a circuit opens and for how long.

    Args:
        failures: failures within ``window`` that open the circuit.
        window: seconds over which failures are counted (a window starts at its first failure).
        cooldown: seconds the circuit stays open before one probe call goes through.
    """

    failures: int = 5
    window: float = 30.0
    cooldown: float = 10.0

    def __post_init__(self) -> None:
        if self.failures < 1:
            raise ValueError("failures must be at least 1")
        if self.window <= 0 or self.cooldown <= 0:
            raise ValueError("window and cooldown must be positive")


class Passage(enum.Enum):
    """What :meth:`Circuits.admit` decided for one call."""

    PASS = "pass"  # closed: call the system
    PROBE = "probe"  # the cooldown is over: this call tries the system
    REFUSE = "refuse"  # open (or a probe is running): answer without calling


@dataclasses.dataclass(frozen=True, slots=True)
class Circuit:
    """One named circuit and its policy (a plugin's upstream: ``crm`` or ``crm:billing-api``)."""

    name: str
    policy: CircuitPolicy


class Circuits(abc.ABC):
    """Keeps every circuit's state and decides, per call, whether it may reach the system.

    Attributes:
        states: the last state this process saw of each circuit (for metrics).
    """

    def __init__(self) -> None:
        self.states: dict[str, str] = {}

    @abc.abstractmethod
    async def admit(self, circuit: Circuit) -> Passage:
        """Whether a call may go to the system now."""

    @abc.abstractmethod
    async def record(self, circuit: Circuit, passage: Passage, ok: bool) -> None:
        """The outcome of a call that was let through (``passage`` as :meth:`admit` said)."""

    async def ping(self) -> None:
        """Raise when the store cannot be reached (readiness)."""

    async def aclose(self) -> None:
        """Release connections."""
