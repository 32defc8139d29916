"""The SLA timer service: finds breached deadlines, tells their owners, escalates (D11).

Timers live in the order store (see :class:`~ordercore.storage.TimerPlan`): a
transition cancels the old state's SLA timer and arms the new one's in its own
transaction, so a timer exists exactly while its order is in the state. The
service only ever asks the store for timers that are due (an index on the due
time, never a scan of orders), claims them for a lease, notifies, records an
``order.sla_breached`` event and moves the timer to the next rung of the
escalation ladder, or deletes it after the last.

On SQLite one process runs the service; on a server store (PostgreSQL) several
may run at once: claims skip timers another worker holds, so each breach is
handled by one of them. A worker that dies mid-breach loses its lease and the
timer is handled again after ``lease_seconds`` (notifications are at least once
in that case; record delivery on the receiving side if twice matters).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

import attrs

from ordercore.errors import ConfigurationError, NotifyError
from ordercore.notify import LogNotifier, Notification, Notifier
from ordercore.schema import Actor, ActorKind, OrderEvent, OrderStatus
from ordercore.storage._protocol import TimerFinish
from ordercore.timestamps import utc_now

if TYPE_CHECKING:
    from ordercore.lifecycle._engine import Lifecycle
    from ordercore.storage import OrderStore, Timer

__all__ = ["BREACHED", "Breach", "SlaService"]

#: The event type recorded on an order each time one of its SLAs is breached.
BREACHED: Final = "order.sla_breached"

_log = logging.getLogger("ordercore.lifecycle.sla")


@attrs.frozen(kw_only=True)
class Breach:
    """One breached SLA rung, handled: who was told, when, and what comes next.

    Attributes:
        order_id: The order.
        state: The state or node whose SLA was breached (``"packed.awaiting_outbound"``).
        timer: The timer's name.
        level: The escalation level (1: the owner at the limit).
        notify: Who was told (a role or target name from the spec).
        due_at: When this rung was due.
        detected_at: When the service claimed the timer.
        notified_at: When the notification was sent.
        next_due: When the next rung is due (``None``: this was the last).
    """

    order_id: str
    state: str
    timer: str
    level: int
    notify: str
    due_at: datetime
    detected_at: datetime
    notified_at: datetime
    next_due: datetime | None

    @property
    def latency(self) -> timedelta:
        """Breach-detection latency: from the deadline to the notification sent."""
        return self.notified_at - self.due_at


class SlaService:
    """Runs due SLA timers of one store against one lifecycle.

    Args:
        store: The order store holding the timers.
        lifecycle: The lifecycle whose SLAs armed them.
        notifier: Where notifications go: one notifier for everyone, or a mapping
            from the spec's owner and escalation names (``warehouse_lead``) to
            notifiers, with ``"*"`` for the rest. Default: the log notifier.
        clock: The time source (injectable for tests; aware datetimes).
        batch_size: Timers claimed per round.
        lease_seconds: How long a claim holds before another worker may take the timer.
        poll_interval: Seconds :meth:`run` sleeps when nothing was due.
        retry_after: Seconds before a timer whose notification failed is tried again.
        keep_latencies: How many recent latencies :attr:`latencies` keeps.

    Raises:
        ConfigurationError: a mapping of notifiers is empty, or a number is not positive.

    Example:
        >>> from ordercore.lifecycle import default_lifecycle
        >>> from ordercore.storage import MemoryStore
        >>> service = SlaService(MemoryStore(), default_lifecycle())
        >>> service.run_once()
        []
    """

    def __init__(
        self,
        store: OrderStore,
        lifecycle: Lifecycle,
        notifier: Notifier | Mapping[str, Notifier] | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        batch_size: int = 100,
        lease_seconds: float = 60.0,
        poll_interval: float = 0.25,
        retry_after: float = 60.0,
        keep_latencies: int = 100_000,
    ) -> None:
        for name, value in (
            ("batch_size", batch_size),
            ("lease_seconds", lease_seconds),
            ("poll_interval", poll_interval),
            ("retry_after", retry_after),
            ("keep_latencies", keep_latencies),
        ):
            if value <= 0:
                raise ConfigurationError(f"SlaService {name} must be positive, got {value!r}")
        if isinstance(notifier, Mapping) and not notifier:
            raise ConfigurationError("SlaService needs at least one notifier in the mapping")
        self.store = store
        self.lifecycle = lifecycle
        self._notifiers: Mapping[str, Notifier] = (
            {"*": notifier or LogNotifier()} if not isinstance(notifier, Mapping) else notifier
        )
        self.clock = clock
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.retry_after = retry_after
        #: Breach-detection latencies (seconds), most recent last.
        self.latencies: deque[float] = deque(maxlen=keep_latencies)
        #: Counts: ``breaches``, ``failed`` (notification errors), ``dropped`` (stale timers).
        self.stats: dict[str, int] = {"breaches": 0, "failed": 0, "dropped": 0}

    def notifier_for(self, target: str) -> Notifier:
        """The notifier for an owner or escalation target name.

        Raises:
            ConfigurationError: the mapping has neither ``target`` nor ``"*"``.
        """
        found = self._notifiers.get(target) or self._notifiers.get("*")
        if found is None:
            raise ConfigurationError(
                f"no notifier for SLA target {target!r} (add it or '*' to the mapping)"
            )
        return found

    def latency_quantile(self, q: float) -> float | None:
        """A quantile (0..1) of the recorded latencies in seconds, ``None`` with none recorded."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return ordered[index]

    # -- running -----------------------------------------------------------------------

    def run_once(self) -> list[Breach]:
        """Claim the timers due now, handle each, and return the breaches handled.

        Stale timers (an SLA the lifecycle no longer has, an order gone or no longer
        in the timer's state, as read with the claim) are deleted without a
        notification. A timer whose notification fails is given back for
        ``retry_after`` seconds. The breaches of one round are recorded in one
        store transaction.
        """
        detected = self.clock()
        claimed = self.store.claim_timers(
            detected, limit=self.batch_size, lease_seconds=self.lease_seconds
        )
        finishes: list[TimerFinish] = []
        handled: list[Breach | None] = []
        for timer in claimed:
            outcome = self._handle(timer, detected)
            if outcome is not None:
                finish, breach = outcome
                finishes.append(finish)
                handled.append(breach)
        if not finishes:
            return []
        breaches = []
        for breach, written in zip(handled, self.store.finish_timers(finishes), strict=True):
            if breach is None:
                continue
            if not written:  # cancelled meanwhile (the order moved on), or taken over
                self.stats["dropped"] += 1
                continue
            self.stats["breaches"] += 1
            self.latencies.append(breach.latency.total_seconds())
            breaches.append(breach)
        return breaches

    def run(self, *, stop_after: float | None = None, stop: threading.Event | None = None) -> int:
        """Run rounds until ``stop`` is set or ``stop_after`` seconds have passed.

        Rounds follow each other at once while timers are due, and ``poll_interval``
        apart when none were.

        Returns:
            How many breaches were handled.
        """
        deadline = None if stop_after is None else time.monotonic() + stop_after
        handled = 0
        while not (stop is not None and stop.is_set()):
            if deadline is not None and time.monotonic() >= deadline:
                break
            count = len(self.run_once())
            handled += count
            if count == 0:
                wait = self.poll_interval
                if deadline is not None:
                    wait = min(wait, max(0.0, deadline - time.monotonic()))
                if stop is not None:
                    stop.wait(wait)
                else:
                    time.sleep(wait)
        return handled

    # -- one timer -----------------------------------------------------------------------

    def _drop(self, timer: Timer, why: str) -> tuple[TimerFinish, None]:
        _log.info("dropped SLA timer %s of order %s: %s", timer.name, timer.order_id, why)
        self.stats["dropped"] += 1
        return TimerFinish(timer), None

    def _handle(self, timer: Timer, detected: datetime) -> tuple[TimerFinish, Breach | None] | None:
        """What to write for one claimed timer (``None``: it was given back for a retry)."""
        sla = self.lifecycle.sla_named(timer.name)
        if sla is None:
            return self._drop(timer, "the lifecycle has no such SLA")
        if timer.order_state is None:
            return self._drop(timer, "the order is gone")
        status, node = timer.order_state
        state = status if node is None else f"{status}.{node}"
        found = self.lifecycle.sla_of(state)
        if found is None or found[0] != timer.name:
            return self._drop(timer, f"the order is in {state!r} now")
        try:
            notify, after, next_level = self.lifecycle.escalation_after(sla, timer.level)
        except ConfigurationError:
            return self._drop(timer, f"the SLA has no level {timer.level}")
        limit_at = timer.due_at - after
        next_due = None
        if next_level is not None:
            _, next_after, _ = self.lifecycle.escalation_after(sla, next_level)
            next_due = limit_at + next_after
        data = timer.data or {}
        channel, ref = data.get("channel", "?"), data.get("ref", timer.order_id)
        message = Notification(
            f"SLA breached: order {channel}/{ref} in {state}",
            text=(
                f"Order **{ref}** ({channel}) has been in **{state}** past its limit by "
                f"{_minutes(detected - limit_at)}."
                + (f" Escalation level {timer.level}." if timer.level > 1 else "")
            ),
            level="warning" if timer.level == 1 else "critical",
            order_ids=timer.order_id,
            data={
                "state": state,
                "timer": timer.name,
                "level": timer.level,
                "notify": notify,
                "due_at": timer.due_at.isoformat(),
            },
        )
        try:
            self.notifier_for(notify).notify(message)
        except (NotifyError, ConfigurationError) as exc:
            self.stats["failed"] += 1
            _log.warning(
                "SLA notification for order %s (%s, level %d) failed: %s",
                timer.order_id,
                timer.name,
                timer.level,
                exc,
            )
            self.store.retry_timer(timer, detected + timedelta(seconds=self.retry_after))
            return None
        notified = self.clock()
        latency = (notified - timer.due_at).total_seconds()
        event = OrderEvent(
            order_id=timer.order_id,
            type=BREACHED,
            at=notified,
            actor=Actor(kind=ActorKind.TIMER, id=timer.name[:128]),
            from_status=OrderStatus(status),
            reason=f"{state} past its SLA; {notify} notified (level {timer.level})",
            data={
                "timer": timer.name,
                "state": state,
                "node": node,
                "level": timer.level,
                "notify": notify,
                "due_at": timer.due_at.isoformat(),
                "detected_at": detected.isoformat(),
                "notified_at": notified.isoformat(),
                "latency_ms": round(latency * 1000, 3),
                "next_due": None if next_due is None else next_due.isoformat(),
            },
        )
        finish = TimerFinish(timer, events=(event,), next_due=next_due, next_level=next_level)
        breach = Breach(
            order_id=timer.order_id,
            state=state,
            timer=timer.name,
            level=timer.level,
            notify=notify,
            due_at=timer.due_at,
            detected_at=detected,
            notified_at=notified,
            next_due=next_due,
        )
        return finish, breach


def _minutes(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
