"""Crash trials for order stores: a writer that reports every write its store acknowledged,
killed with SIGKILL at a random moment, and the check that every acknowledged write survived.

Run as a script (``python crash_trials.py URL SEED ACKS``) this module is the writer: it opens
the store at URL and loops over single puts (some with an idempotency key, then replayed),
``put_many`` batches, updates (some with a key; some stale on purpose, which must conflict),
appended notes, and outbox claims of which it acknowledges a random part. Only after a call
has returned does it append a line to the file ACKS::

    order <order id> <version> <content digest> <idempotency key or ->
    delivered <outbox message id> <outbox message id> ...

so the file holds exactly the writes the store confirmed. Before a write with an idempotency
key it appends ``trying <key>``, so a key the store recorded for a write that was never
acknowledged can be checked too. :class:`Ledger` merges these files
over the trials and :func:`check_acknowledged` looks every acknowledged write up in the store.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn, Protocol

from ordercore import open_store
from ordercore.errors import DuplicateOrder, OrderNotFound, VersionConflict
from ordercore.schema import Actor, Order, OrderEvent, OrderStatus
from ordercore.storage import IdempotencyRecord, OrderStore
from ordercore.testing import OrderFactory

# The event types of a change that gives an order a new version (a put, an update).
CHANGE_EVENTS = frozenset({"order.created", "order.updated"})
# What the store stamps on a write; the digest covers everything else.
_STAMPED = frozenset({"version", "recorded_at", "updated_at", "status_since"})
_BUSY = [OrderStatus.PAID, OrderStatus.ALLOCATED, OrderStatus.PACKED]
_NEXT = [OrderStatus.ALLOCATED, OrderStatus.PACKED, OrderStatus.SHIPPED]


def content_digest(order: Order) -> str:
    """A digest of what an order says, leaving out what the store stamps on a write."""
    text = order.model_dump_json(exclude=set(_STAMPED))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def order_ack(order: Order, version: int, key: str | None = None) -> str:
    """The acknowledgement line of a write that left ``order``'s content at ``version``."""
    return f"order {order.id} {version} {content_digest(order)} {key or '-'}\n"


@dataclass(frozen=True)
class Acknowledged:
    """The latest write of one order that the store acknowledged."""

    order_id: str
    version: int
    digest: str


@dataclass
class Ledger:
    """Every write the writers were told had committed, merged over the trials.

    Attributes:
        orders: The latest acknowledged version of each order.
        keys: Idempotency key -> the order its acknowledged write stored.
        delivered: Outbox message ids that were acknowledged (``ack_outbox`` returned).
        tried: Idempotency keys of writes that were started, acknowledged or not.
    """

    orders: dict[str, Acknowledged] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    delivered: set[int] = field(default_factory=set)
    tried: set[str] = field(default_factory=set)

    def read(self, acks: str) -> int:
        """Merge the acknowledgement lines of one writer; return how many were complete."""
        complete = 0
        for line in acks.splitlines(keepends=True):
            if not line.endswith("\n"):
                break  # cut short by the kill: not an acknowledgement
            kind, *words = line.split()
            if kind == "order":
                order_id, version, digest, key = words
                self.acknowledge(order_id, int(version), digest, None if key == "-" else key)
            elif kind == "delivered":
                self.delivered.update(int(word) for word in words)
            elif kind == "trying":
                self.tried.update(words)
            else:
                raise ValueError(f"not an acknowledgement line: {line!r}")
            complete += 1
        return complete

    def acknowledge(self, order_id: str, version: int, digest: str, key: str | None) -> None:
        """Record that the store confirmed ``order_id`` at ``version`` with this content."""
        known = self.orders.get(order_id)
        if known is None or version >= known.version:
            self.orders[order_id] = Acknowledged(order_id, version, digest)
        if key is not None:
            self.keys[key] = order_id

    def note(self, order: Order, key: str | None = None) -> None:
        """Record an order as a store returned it (for checks within one process)."""
        self.read(order_ack(order, order.version, key))


class StoredWrites(Protocol):
    """The reads :func:`check_acknowledged` needs (every order store has them)."""

    def get(self, order_id: str) -> Order: ...

    def events(self, order_id: str) -> list[OrderEvent]: ...

    def recall(self, key: str) -> IdempotencyRecord | None: ...


def check_acknowledged(store: StoredWrites, ledger: Ledger) -> list[str]:
    """Look every acknowledged write up in ``store``; return what is lost or half-written.

    Each acknowledged order must be stored at (at least) its acknowledged version, with the
    acknowledged content when the versions are equal, and its change log must hold exactly one
    change (``order.created`` or ``order.updated``) for each of its versions 1..N: one outbox
    message per committed change, none for a change that did not commit. Each acknowledged
    idempotency key must be recorded for its order, and a key of a write that was started but
    not acknowledged must be recorded for a stored order, or not at all. An empty list means
    nothing was lost.
    """
    problems: list[str] = []
    for ack in sorted(ledger.orders.values(), key=lambda ack: ack.order_id):
        try:
            stored = store.get(ack.order_id)
        except OrderNotFound:
            problems.append(
                f"order {ack.order_id}: acknowledged at version {ack.version}, not stored"
            )
            continue
        if stored.version < ack.version:
            problems.append(
                f"order {ack.order_id}: acknowledged at version {ack.version}, "
                f"stored at version {stored.version}"
            )
        elif stored.version == ack.version and content_digest(stored) != ack.digest:
            problems.append(
                f"order {ack.order_id}: version {ack.version} is stored with other content "
                "than was acknowledged"
            )
        # A change event without a version counts as version 0, which no order has.
        changes = Counter(
            event.order_version or 0
            for event in store.events(ack.order_id)
            if event.type in CHANGE_EVENTS
        )
        expected = range(1, stored.version + 1)
        if changes != Counter(expected):
            missing = [version for version in expected if version not in changes]
            repeated = sorted(version for version, count in changes.items() if count > 1)
            unknown = sorted(set(changes) - set(expected))
            problems.append(
                f"order {ack.order_id} at version {stored.version}: change log misses "
                f"versions {missing}, repeats {repeated}, has unknown versions {unknown}"
            )
    for key, order_id in sorted(ledger.keys.items()):
        record = store.recall(key)
        if record is None or record.result.get("order_id") != order_id:
            problems.append(f"idempotency key {key}: not recorded for order {order_id}")
    for key in sorted(ledger.tried - set(ledger.keys)):
        record = store.recall(key)
        if record is not None:
            problems.extend(_key_problems(store, key, record))
    return problems


def _key_problems(store: StoredWrites, key: str, record: IdempotencyRecord) -> list[str]:
    """A recorded key must point at a stored order, at (at least) the recorded version."""
    order_id, version = record.result.get("order_id"), record.result.get("version", 1)
    if not isinstance(order_id, str):
        return [f"idempotency key {key}: records no order"]
    try:
        stored = store.get(order_id)
    except OrderNotFound:
        return [f"idempotency key {key}: recorded for order {order_id}, which is not stored"]
    if stored.version < version:
        return [
            f"idempotency key {key}: recorded for order {order_id} at version {version}, "
            f"stored at version {stored.version}"
        ]
    return []


def redelivered(store: OrderStore, ledger: Ledger) -> list[int]:
    """Claim the whole outbox; return the acknowledged messages that were handed out again."""
    claimed = store.claim_outbox(store.outbox_pending() + 10, lease_seconds=0)
    return sorted(ledger.delivered & {message.id for message in claimed})


def kill_at_random(
    url: str, seed: int, acks: Path, rnd: random.Random, *, longest: float = 0.6
) -> str:
    """Start a writer on ``url``, SIGKILL it at a random moment; return its acknowledgements."""
    log = acks.with_suffix(".log")
    with (
        log.open("w") as errors,
        subprocess.Popen(
            [sys.executable, __file__, url, str(seed), str(acks)],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        ) as writer,
    ):
        assert writer.stdout is not None
        try:
            if writer.stdout.readline().strip() != "ready":
                raise AssertionError(f"writer did not start: {log.read_text()[-4000:]}")
            time.sleep(rnd.uniform(0.05, longest))
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=30)
    if writer.returncode != -signal.SIGKILL:
        raise AssertionError(
            f"writer ended by itself ({writer.returncode}): {log.read_text()[-4000:]}"
        )
    return acks.read_text() if acks.exists() else ""


class _AckFile:
    """Append-only acknowledgements: one write(2) per line on an O_APPEND descriptor.

    Once ``os.write`` returns, the line is in the kernel, which keeps it when this
    process is killed; fsync would only matter if the machine lost power.
    """

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, line: str) -> None:
        data = line.encode()
        if os.write(self._fd, data) != len(data):  # pragma: no cover - regular files
            raise OSError("short write of an acknowledgement")


def write_until_killed(url: str, seed: int, acks_path: str) -> NoReturn:
    """The writer's loop: mixed writes on the store at ``url``, each acknowledged once done."""
    rnd = random.Random(seed)
    # Each trial places its orders on other days, so channel order ids do not collide.
    start = datetime(2027, 1, 1, tzinfo=UTC) + timedelta(days=seed)
    factory = OrderFactory(seed=seed, start=start, span=timedelta(hours=12))
    store = open_store(url)
    acks = _AckFile(acks_path)
    print("ready", flush=True)
    step = 0
    while True:
        step += 1
        fresh: list[Order] = []
        if rnd.random() < 0.3:
            order = factory.order()
            key = f"put:{seed}:{step}" if rnd.random() < 0.5 else None
            if key is not None:
                acks.write(f"trying {key}\n")
            try:
                stored = store.put(order, idempotency_key=key)
            except DuplicateOrder:
                pass
            else:
                acks.write(order_ack(order, stored.version, key))
                fresh.append(stored)
                if key is not None and store.put(order, idempotency_key=key) != stored:
                    raise AssertionError(f"replaying put {key} returned another order")
        else:
            batch = list(factory.orders(rnd.randrange(1, 26)))
            try:
                store.put_many(batch)
            except DuplicateOrder:
                pass
            else:
                # The orders passed in, at version 1; put_many's return value is not used.
                acks.write("".join(order_ack(order, 1) for order in batch))
                fresh.extend(
                    store.get(order.id) for order in rnd.sample(batch, k=min(3, len(batch)))
                )
        picked = {order.id: order for order in store.query(limit=10, status=_BUSY)}
        busy = [order for order in fresh if order.status in _BUSY and order.id not in picked]
        for order in rnd.sample(busy, k=min(3, len(busy))):
            picked[order.id] = order
        for order in picked.values():
            change = order.evolve(status=rnd.choice(_NEXT), seller_note=f"n{rnd.random():.6f}")
            key = f"update:{seed}:{step}:{order.id}" if rnd.random() < 0.3 else None
            if key is not None:
                acks.write(f"trying {key}\n")
            updated = store.update(change, idempotency_key=key)
            acks.write(order_ack(change, updated.version, key))
            if key is not None and store.update(change, idempotency_key=key) != updated:
                raise AssertionError(f"replaying update {key} returned another order")
            if rnd.random() < 0.2:
                try:
                    store.update(order.evolve(seller_note="stale"))
                except VersionConflict:
                    pass
                else:
                    raise AssertionError(f"a stale update of {order.id} was accepted")
            if rnd.random() < 0.3:
                note = OrderEvent(order_id=order.id, type="order.noted", actor=Actor.system())
                store.append_events(order.id, [note])
        claimed = store.claim_outbox(40, lease_seconds=0)
        delivered = [message.id for message in claimed if rnd.random() < 0.75]
        store.ack_outbox(delivered)
        if delivered:
            acks.write(f"delivered {' '.join(map(str, delivered))}\n")


if __name__ == "__main__":
    write_until_killed(sys.argv[1], int(sys.argv[2]), sys.argv[3])
