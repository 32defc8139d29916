"""Crash trials for the SQLite inventory (R4): a writer killed with SIGKILL, and the checks after.

Run as a script (``python inventory_crash_trials.py URL SEED ACKS START_US``) this module is
the writer: it opens the inventory at URL with a clock that starts at START_US (microseconds
since the epoch) and moves 1 ms forward at every call, so every transaction has a time of
its own, and loops over receipts, single reservations (some backordered or shipped partial,
some with two lines of one SKU), ``reserve_many`` batches, full and partial commits,
releases and ``expire_due`` sweeps on three SKUs at two locations. Only after a call has
returned does it append a line to ACKS::

    trying <reservation id>            (before a reserve or a batch naming it)
    reserved <reservation id>
    refused <reservation id>           (InsufficientStock: nothing of it may be stored)
    committed <reservation id>
    released <reservation id>
    expired <reservation id> ...
    received <ref> <sku> <location> <quantity>

:func:`problems` checks a file after a kill against the merged acknowledgements (:class:`Acks`):

- ``verify()`` is clean: every counter equals the sum of its ledger entries.
- The outbox holds exactly one ``stock`` message per availability change the ledger records
  (see :func:`outbox_problems` for the exact correspondence).
- No half-written reservation: for every stored reservation the ledger's ``reserved`` deltas
  under its id sum to the units it holds and its ``commit`` entries to the units it
  committed; every id in the ledger has a stored reservation; the units held by all
  reservations at a SKU and location equal that row's ``reserved`` counter; every queued
  backorder is a stored reservation still waiting.
- Every acknowledged effect is there, and a refused request left nothing.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

from ordercore.errors import InsufficientStock, ReservationStateError
from ordercore.inventory import (
    BackorderPolicy,
    Inventory,
    Location,
    Reservation,
    ReservationLine,
    ReservationRequest,
    ReservationStatus,
    open_inventory,
)
from ordercore.schema import Actor, ActorKind

SKUS = ("MUG", "TEA", "PEN")
LOCATIONS = ("WH1", "WH2")
STAFF = Actor(kind=ActorKind.PERSON, id="li.wei")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Ledger kinds whose ``reservation_id`` names a reservation (receipts keep a reference there).
RESERVATION_KINDS = frozenset({"reserve", "release", "expire", "commit", "modify"})
StockKey = tuple[str, str]
State = tuple[int, int, int, int]


def stepping_clock(start_us: int) -> Callable[[], datetime]:
    """A clock starting at ``start_us`` that moves 1 ms forward at every call."""
    ticks = itertools.count()
    return lambda: EPOCH + timedelta(microseconds=start_us + 1000 * next(ticks))


@dataclass
class Acks:
    """What the writers were told had committed, merged over the trials."""

    reserved: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    committed: set[str] = field(default_factory=set)
    released: set[str] = field(default_factory=set)
    expired: set[str] = field(default_factory=set)
    received: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    tried: set[str] = field(default_factory=set)

    def read(self, text: str) -> int:
        """Merge one writer's acknowledgement lines; return how many effects they report."""
        effects = 0
        for line in text.splitlines(keepends=True):
            if not line.endswith("\n"):
                break  # cut short by the kill: not an acknowledgement
            kind, *words = line.split()
            if kind == "received":
                ref, sku, location, quantity = words
                self.received[ref] = (sku, location, int(quantity))
            elif kind == "trying":
                self.tried.update(words)
                continue
            elif kind in ("reserved", "refused", "committed", "released", "expired"):
                getattr(self, kind).update(words)
            else:
                raise ValueError(f"not an acknowledgement line: {line!r}")
            effects += 1
        return effects


# -- the checks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One ledger entry, as much of it as the checks need."""

    seq: int
    at: int
    sku: str
    location: str
    kind: str
    deltas: State
    reservation_id: str | None


def read_ledger(db: sqlite3.Connection) -> list[Entry]:
    """Every ledger entry, by sequence number."""
    rows = db.execute(
        "SELECT seq, at, sku, location, kind, on_hand, reserved, in_transfer, damaged, "
        "reservation_id FROM ordercore_stock_ledger ORDER BY seq"
    ).fetchall()
    return [Entry(r[0], r[1], r[2], r[3], r[4], (r[5], r[6], r[7], r[8]), r[9]) for r in rows]


def _available(state: Sequence[int]) -> int:
    return state[0] - state[1] - state[2]


def expected_messages(entries: Sequence[Entry]) -> dict[str, list[tuple[State, str]]]:
    """The stock messages the ledger calls for, per ``sku@location``, in commit order.

    A transaction's entries are contiguous in the ledger and share its time (the writers'
    clock gives every transaction a time of its own). For each transaction and each SKU and
    location it touched whose availability it changed, there is one message carrying the
    counters after the transaction (the ledger's running totals) and, as its cause, the kind
    of the transaction's first entry (the operation: receive, reserve, commit, ...).
    """
    totals: dict[StockKey, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    expected: dict[str, list[tuple[State, str]]] = defaultdict(list)
    for _, group in itertools.groupby(entries, key=lambda entry: entry.at):
        rows = list(group)
        before = {(e.sku, e.location): _available(totals[(e.sku, e.location)]) for e in rows}
        for entry in rows:
            counters = totals[(entry.sku, entry.location)]
            for n, delta in enumerate(entry.deltas):
                counters[n] += delta
        for key, available in before.items():
            after = totals[key]
            if _available(after) != available:
                state = (after[0], after[1], after[2], after[3])
                expected[f"{key[0]}@{key[1]}"].append((state, rows[0].kind))
    return expected


def outbox_problems(db: sqlite3.Connection, entries: Sequence[Entry]) -> list[str]:
    """Compare the ``stock`` messages with :func:`expected_messages`, key by key, in order.

    Each message's payload must carry the counters and cause the ledger calls for, its
    ``available`` must be ``on_hand - reserved - in_transfer``, and its aggregate version
    (the row's version) must increase from one message of a key to the next. A missing,
    repeated or extra message, or one with other counters, is a problem.
    """
    problems: list[str] = []
    actual: dict[str, list[tuple[State, str]]] = defaultdict(list)
    versions: dict[str, int] = {}
    rows = db.execute(
        "SELECT aggregate_id, aggregate_version, payload FROM ordercore_outbox "
        "WHERE stream = 'stock' ORDER BY id"
    ).fetchall()
    for aggregate, version, payload in rows:
        body = json.loads(payload)
        state = (body["on_hand"], body["reserved"], body["in_transfer"], body["damaged"])
        if body["available"] != _available(state):
            problems.append(f"{aggregate}: message says available {body['available']} for {state}")
        if version <= versions.get(aggregate, 0):
            problems.append(f"{aggregate}: message version {version} after {versions[aggregate]}")
        versions[aggregate] = version
        actual[aggregate].append((state, body["cause"]))
    expected = expected_messages(entries)
    for aggregate in sorted(set(expected) | set(actual)):
        want, got = expected.get(aggregate, []), actual.get(aggregate, [])
        if want != got:
            at = next(
                (n for n, (a, b) in enumerate(zip(want, got, strict=False)) if a != b),
                min(len(want), len(got)),
            )
            problems.append(
                f"{aggregate}: {len(got)} stock messages for {len(want)} availability changes; "
                f"first difference at #{at}: ledger {want[at : at + 1]}, outbox {got[at : at + 1]}"
            )
    return problems


def reservation_problems(
    inventory: Inventory, db: sqlite3.Connection, entries: Sequence[Entry]
) -> tuple[list[str], dict[str, Reservation]]:
    """Reservations against their ledger entries and the ``reserved`` counters."""
    problems: list[str] = []
    ids = [row[0] for row in db.execute("SELECT id FROM ordercore_reservations ORDER BY id")]
    stored = {rid: inventory.reservation(rid) for rid in ids}
    reserved: Counter[str] = Counter()
    committed: Counter[str] = Counter()
    for entry in entries:
        if entry.kind in RESERVATION_KINDS and entry.reservation_id is not None:
            reserved[entry.reservation_id] += entry.deltas[1]
            if entry.kind == "commit":
                committed[entry.reservation_id] -= entry.deltas[0]
    for rid in sorted(set(reserved) - set(stored)):
        problems.append(f"reservation {rid}: in the ledger, not stored")
    held: Counter[StockKey] = Counter()
    for rid, reservation in stored.items():
        holds = sum(line.quantity - line.committed for line in reservation.lines)
        shipped = sum(line.committed for line in reservation.lines)
        for line in reservation.lines:
            held[(line.sku, line.location)] += line.quantity - line.committed
        if (reserved[rid], committed[rid]) != (holds, shipped):
            problems.append(
                f"reservation {rid} ({reservation.status.value}): holds {holds} and committed "
                f"{shipped}, the ledger says {reserved[rid]} and {committed[rid]}"
            )
    with inventory.backend.reading() as txn:
        rows = txn.stock_rows()
    for key in sorted(set(rows) | set(held)):
        counter = rows[key].reserved if key in rows else 0
        if counter != held[key]:
            problems.append(f"{key[0]}@{key[1]}: reserved {counter}, reservations hold {held[key]}")
    for waiting in inventory.backorders():
        if waiting.id not in stored or not waiting.waiting:
            problems.append(f"backorder {waiting.id}: queued but not waiting")
    return problems, stored


def problems(inventory: Inventory, path: Path, acks: Acks) -> list[str]:
    """Everything wrong with the inventory in ``path`` after a kill (empty: all is well)."""
    found = [f"drift: {drift}" for drift in inventory.verify()]
    with sqlite3.connect(path) as db:
        entries = read_ledger(db)
        found += outbox_problems(db, entries)
        half, stored = reservation_problems(inventory, db, entries)
    found += half
    for rid in sorted(acks.reserved - set(stored)):
        found.append(f"reservation {rid}: acknowledged, not stored")
    for rid in sorted(acks.refused & (set(stored) | {e.reservation_id for e in entries})):
        found.append(f"reservation {rid}: refused, yet stored")
    for rid in sorted(acks.committed & set(stored)):
        if sum(line.committed for line in stored[rid].lines) == 0:
            found.append(f"reservation {rid}: commit acknowledged, nothing committed")
    for status, rids in (
        (ReservationStatus.RELEASED, acks.released),
        (ReservationStatus.EXPIRED, acks.expired),
    ):
        for rid in sorted(rids & set(stored)):
            if stored[rid].status is not status:
                now = stored[rid].status.value
                found.append(f"reservation {rid}: acknowledged {status.value}, stored {now}")
    receipts = {
        e.reservation_id: (e.sku, e.location, e.deltas[0]) for e in entries if e.kind == "receive"
    }
    for ref, receipt in sorted(acks.received.items()):
        if receipts.get(ref) != receipt:
            found.append(f"receipt {ref}: acknowledged {receipt}, ledger {receipts.get(ref)}")
    return found


# -- the writer -----------------------------------------------------------------------------


def kill_at_random(
    url: str, seed: int, acks: Path, start_us: int, rnd: random.Random, *, longest: float = 0.6
) -> str:
    """Start a writer on ``url``, SIGKILL it at a random moment; return its acknowledgements."""
    log = acks.with_suffix(".log")
    with (
        log.open("w") as errors,
        subprocess.Popen(
            [sys.executable, __file__, url, str(seed), str(acks), str(start_us)],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        ) as writer,
    ):
        assert writer.stdout is not None
        try:
            if writer.stdout.readline().strip() != "ready":
                raise AssertionError(f"writer did not start: {log.read_text()[-4000:]}")
            time.sleep(rnd.uniform(0.02, longest))
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

    Once ``os.write`` returns the line is in the kernel, which keeps it when this process
    is killed.
    """

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, line: str) -> None:
        data = line.encode()
        if os.write(self._fd, data) != len(data):  # pragma: no cover - regular files
            raise OSError("short write of an acknowledgement")


def _request(rnd: random.Random, rid: str, *, policy: BackorderPolicy) -> ReservationRequest:
    """1-3 lines (sometimes two of one SKU and location), living 20-2,000 clock ticks."""
    lines = []
    for _ in range(rnd.choice((1, 1, 2, 3))):
        lines.append(
            ReservationLine(
                sku=rnd.choice(SKUS), quantity=rnd.randint(1, 3), location=rnd.choice(LOCATIONS)
            )
        )
    if rnd.random() < 0.2:
        lines.append(lines[0])
    ttl = timedelta(milliseconds=rnd.choice((20, 200, 2000)))
    return ReservationRequest(reservation_id=rid, lines=lines, ttl=ttl, backorder=policy)


def write_until_killed(url: str, seed: int, acks_path: str, start_us: int) -> NoReturn:
    """The writer's loop: mixed stock operations, each acknowledged once it returned."""
    rnd = random.Random(seed)
    inventory = open_inventory(url, clock=stepping_clock(start_us))
    for location in LOCATIONS:
        inventory.add_location(Location(id=location))
    acks = _AckFile(acks_path)
    held: list[str] = []
    print("ready", flush=True)
    for step in itertools.count():
        roll = rnd.random()
        if roll < 0.12:
            ref, sku, location = f"in-{seed}-{step}", rnd.choice(SKUS), rnd.choice(LOCATIONS)
            quantity = rnd.randint(1, 5)
            inventory.receive(sku, location, quantity, actor=STAFF, ref=ref)
            acks.write(f"received {ref} {sku} {location} {quantity}\n")
        elif roll < 0.45 or not held:
            rid = f"r-{seed}-{step}"
            policy = rnd.choice(
                (BackorderPolicy.NONE,) * 6 + (BackorderPolicy.WAIT, BackorderPolicy.SHIP_PARTIAL)
            )
            acks.write(f"trying {rid}\n")
            try:
                inventory.reserve(_request(rnd, rid, policy=policy))
            except InsufficientStock:
                acks.write(f"refused {rid}\n")
            else:
                acks.write(f"reserved {rid}\n")
                held.append(rid)
        elif roll < 0.55:
            rids = [f"b-{seed}-{step}-{n}" for n in range(rnd.randint(2, 5))]
            acks.write(f"trying {' '.join(rids)}\n")
            results = inventory.reserve_many(
                [_request(rnd, rid, policy=BackorderPolicy.NONE) for rid in rids]
            )
            lines = []
            for rid, result in zip(rids, results, strict=True):
                if isinstance(result, InsufficientStock):
                    lines.append(f"refused {rid}\n")
                else:
                    lines.append(f"reserved {rid}\n")
                    held.append(rid)
            acks.write("".join(lines))
        elif roll < 0.85:
            rid = held.pop(rnd.randrange(len(held)))
            try:
                if roll < 0.7:
                    reservation = inventory.reservation(rid)
                    open_skus = sorted(
                        {ln.sku for ln in reservation.lines if ln.quantity > ln.committed}
                    )
                    partial = (
                        {rnd.choice(open_skus): 1} if open_skus and rnd.random() < 0.3 else None
                    )
                    done = inventory.commit(rid, partial)
                    acks.write(f"committed {rid}\n")
                    if done.status is ReservationStatus.PARTIALLY_COMMITTED:
                        held.append(rid)
                else:
                    inventory.release(rid)
                    acks.write(f"released {rid}\n")
            except (ReservationStateError, InsufficientStock):
                pass  # expired, or backordered with nothing held: nothing changed
        else:
            expired = inventory.expire_due()
            if expired:
                acks.write(f"expired {' '.join(r.id for r in expired)}\n")
    raise AssertionError("unreachable")  # pragma: no cover


if __name__ == "__main__":
    write_until_killed(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
