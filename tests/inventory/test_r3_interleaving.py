"""R3: deterministic interleaving of two operations between one's check and its write.

For each ordered pair (A, B) of reserve / release / commit / expire / adjust (approve), A
runs on a backend wrapped by :class:`HookedBackend`, whose transaction calls a hook just
before A's first write primitive - after A has read what it checks (the reservation for
release and commit, the due reservations for expire, the adjustment for approve; reserve's
check is its conditional stock update itself) and before it writes anything. The hook runs
B from elsewhere. The scenario (``inventory_workers.r3_setup``) gives 3 units, ``r0``
holding 2, and a proposed count of -1: every operation succeeds alone, reserve and adjust
compete for the one free unit, release / commit / expire compete for ``r0``.

What each test proves:

- Memory backend, B from another thread: B cannot run inside A's window (it is still
  waiting when the hook returns), and the pair ends exactly as "A, then B" run one after
  the other: same outcomes, same counters, records and ledger.
- SQLite, B from another process (its own connection, default busy timeout): B waits on
  ``BEGIN IMMEDIATE`` for the whole window, then runs on A's committed result; again
  exactly "A, then B".
- SQLite, B on a second connection with a 50 ms busy timeout: B is refused as busy
  (``StoreError``) inside the window and changes nothing; the file holds "A" alone, and B
  retried afterwards ends as "A, then B".

In every case the invariants hold (``verify()`` clean, available >= 0) and the loser gets
the typed error the serial order gives (:data:`LOSER`): ``InsufficientStock`` for the
second taker of the last unit, ``ReservationStateError`` for a second release / commit of
``r0``, ``AdjustmentError`` for a second approval, and an expiry that finds nothing due.
"""

from __future__ import annotations

import importlib.util
import json
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ordercore.errors import StoreError
from ordercore.inventory import (
    Inventory,
    InventoryBackend,
    InventoryTxn,
    MemoryInventoryBackend,
    SQLiteInventoryBackend,
    open_inventory,
)

WORKERS = Path(__file__).with_name("inventory_workers.py")


def _load_workers() -> ModuleType:
    """The worker module beside this file, loaded by path (it is not a package)."""
    known = sys.modules.get("inventory_workers")
    if known is not None:
        return known
    spec = importlib.util.spec_from_file_location("inventory_workers", WORKERS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["inventory_workers"] = module
    spec.loader.exec_module(module)
    return module


w = _load_workers()
PAIRS = [(a, b) for a in w.OPERATIONS for b in w.OPERATIONS]

#: What the second operation of each pair gets when it runs after the first.
LOSER: dict[tuple[str, str], str] = dict.fromkeys(PAIRS, "ok")
LOSER.update(
    {
        ("reserve", "reserve"): "InsufficientStock",
        ("reserve", "adjust"): "InsufficientStock",
        ("adjust", "reserve"): "InsufficientStock",
        ("adjust", "adjust"): "AdjustmentError",
    }
)
for _first in ("release", "commit", "expire"):
    LOSER[(_first, "expire")] = "nothing due"
    for _second in ("release", "commit"):
        LOSER[(_first, _second)] = "ReservationStateError"

#: The reads A must have made before its first write (what it checked).
CHECKED = {
    "release": "get_reservation",
    "commit": "get_reservation",
    "expire": "due_reservations",
    "adjust": "get_adjustment",
}
_WRITES = frozenset(
    {
        "change_stock",
        "set_stock",
        "append_ledger",
        "insert_reservation",
        "update_reservation",
        "put_adjustment",
        "put_transfer",
        "put_idempotency",
        "enqueue_backorder",
        "dequeue_backorder",
        "set_quota",
        "add_quota_used",
        "put_setting",
        "put_location",
        "write_outbox",
    }
)


class HookedTxn:
    """A backend transaction that calls a hook once, just before its first write primitive.

    Attributes:
        reads: The primitives called before the hook ran (what the engine checked).
    """

    def __init__(self, txn: InventoryTxn, hook: Callable[[], None]) -> None:
        self._txn = txn
        self._hook: Callable[[], None] | None = hook
        self.reads: list[str] = []

    def __getattr__(self, name: str) -> Any:
        primitive = getattr(self._txn, name)
        if self._hook is None or not callable(primitive):
            return primitive

        def call(*args: Any, **kwargs: Any) -> Any:
            hook = self._hook
            if name in _WRITES and hook is not None:
                self._hook = None
                hook()
            elif hook is not None:
                self.reads.append(name)
            return primitive(*args, **kwargs)

        return call


class HookedBackend:
    """Wraps a backend; the next transaction after :meth:`arm` gets a :class:`HookedTxn`."""

    def __init__(self, inner: InventoryBackend) -> None:
        self.inner = inner
        self.url = inner.url
        self._armed: Callable[[], None] | None = None
        self.hooked: HookedTxn | None = None

    def arm(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` inside the next write transaction, before its first write."""
        self._armed = hook

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.inner.transaction() as txn:
            hook, self._armed = self._armed, None
            if hook is None:
                yield txn
            else:
                self.hooked = HookedTxn(txn, hook)
                yield self.hooked

    def reading(self) -> Any:
        return self.inner.reading()

    def close(self) -> None:
        self.inner.close()


def _normal(value: Any, adjustment_id: str) -> Any:
    """``value`` with the run's adjustment id replaced, to compare runs."""
    return json.loads(json.dumps(value).replace(adjustment_id, "ADJ"))


def serial(*operations: str) -> tuple[list[Any], dict[str, Any]]:
    """The reference: the operations one after the other on a fresh memory inventory."""
    inventory = open_inventory("memory://", clock=w.r3_clock)
    adjustment = w.r3_setup(inventory)
    outcomes = [
        w.r3_outcome(partial(w.r3_run, inventory, op, side, adjustment))
        for op, side in zip(operations, "AB", strict=False)
    ]
    return _normal(outcomes, adjustment), _normal(w.r3_state(inventory), adjustment)


def kind(outcome: list[Any]) -> str:
    """``ok``, ``nothing due`` (an expiry that expired nothing) or the error's type."""
    return "nothing due" if outcome == ["ok", []] else str(outcome[0])


def check(
    pair: tuple[str, str],
    inventory: Inventory,
    hooked: HookedBackend,
    adjustment: str,
    outcomes: list[Any],
) -> None:
    """The pair ended as "A, then B", the loser got its typed error, invariants hold."""
    first, second = pair
    assert hooked.hooked is not None and hooked.hooked._hook is None, "the hook never ran"
    if first in CHECKED:
        assert CHECKED[first] in hooked.hooked.reads, hooked.hooked.reads
    expected_outcomes, expected_state = serial(first, second)
    assert kind(expected_outcomes[0]) == "ok"
    assert kind(expected_outcomes[1]) == LOSER[pair]
    assert _normal(outcomes, adjustment) == expected_outcomes
    assert _normal(w.r3_state(inventory), adjustment) == expected_state
    assert inventory.verify() == []
    assert all(level.available >= 0 for level in inventory.stock(w.HOT))


@pytest.mark.parametrize("pair", PAIRS, ids=["-".join(pair) for pair in PAIRS])
def test_memory_second_operation_from_another_thread_waits(pair: tuple[str, str]) -> None:
    """Memory: B, started inside A's check-to-write window, waits and then sees A's result."""
    first, second = pair
    hooked = HookedBackend(MemoryInventoryBackend())
    inventory = Inventory(hooked, clock=w.r3_clock)
    adjustment = w.r3_setup(inventory)
    results: list[Any] = []
    threads: list[threading.Thread] = []

    def inject() -> None:
        started = threading.Event()

        def run_second() -> None:
            started.set()
            results.append(w.r3_outcome(partial(w.r3_run, inventory, second, "B", adjustment)))

        thread = threading.Thread(target=run_second)
        thread.start()
        threads.append(thread)
        assert started.wait(10)
        thread.join(0.05)
        assert thread.is_alive(), "the second operation ran inside the first one's window"

    hooked.arm(inject)
    outcome = w.r3_outcome(partial(w.r3_run, inventory, first, "A", adjustment))
    threads[0].join(10)
    check(pair, inventory, hooked, adjustment, [outcome, *results])


class Injector:
    """The ``inject`` worker process and a thread reading its answers into a queue."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WORKERS), "inject"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.answers: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.answers.put(json.loads(line))

    def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def answer(self, timeout: float = 30.0) -> dict[str, Any]:
        return self.answers.get(timeout=timeout)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self._reader.join(timeout=30)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture(scope="module")
def injector() -> Iterator[Injector]:
    process = Injector()
    yield process
    process.close()


@pytest.mark.parametrize("pair", PAIRS, ids=["-".join(pair) for pair in PAIRS])
def test_sqlite_second_operation_from_another_process_waits(
    pair: tuple[str, str], tmp_path: Path, injector: Injector
) -> None:
    """SQLite: B from another process waits on BEGIN IMMEDIATE, then sees A's result."""
    first, second = pair
    url = f"sqlite:///{tmp_path}/r3.db"
    hooked = HookedBackend(SQLiteInventoryBackend.from_url(url))
    inventory = Inventory(hooked, clock=w.r3_clock)
    try:
        adjustment = w.r3_setup(inventory)
        injector.send({"open": url})
        assert injector.answer() == {"opened": url}

        def inject() -> None:
            injector.send({"run": second, "side": "B", "adjustment": adjustment})
            assert injector.answer() == {"running": True}
            try:
                early = injector.answer(timeout=0.1)
            except queue.Empty:
                return  # still waiting for the write lock, as it must
            pytest.fail(f"the second operation ran inside the first one's window: {early}")

        hooked.arm(inject)
        outcome = w.r3_outcome(partial(w.r3_run, inventory, first, "A", adjustment))
        answer = injector.answer()
        injector.send({"close": True})
        assert injector.answer() == {"closed": True}
        check(pair, inventory, hooked, adjustment, [outcome, answer["outcome"]])
    finally:
        inventory.close()


@pytest.mark.parametrize("pair", PAIRS, ids=["-".join(pair) for pair in PAIRS])
def test_sqlite_second_connection_inside_the_window_is_refused_as_busy(
    pair: tuple[str, str], tmp_path: Path
) -> None:
    """SQLite: B on another connection inside A's window is refused and changes nothing."""
    first, second = pair
    url = f"sqlite:///{tmp_path}/r3.db"
    hooked = HookedBackend(SQLiteInventoryBackend.from_url(url))
    inventory = Inventory(hooked, clock=w.r3_clock)
    other = open_inventory(f"{url}?timeout=0.05", clock=w.r3_clock)
    try:
        adjustment = w.r3_setup(inventory)
        before = w.r3_state(other)

        def inject() -> None:
            with pytest.raises(StoreError, match="could not start a write"):
                w.r3_run(other, second, "B", adjustment)
            assert w.r3_state(other) == before

        hooked.arm(inject)
        outcome = w.r3_outcome(partial(w.r3_run, inventory, first, "A", adjustment))
        alone_outcomes, alone_state = serial(first)
        assert _normal([outcome], adjustment) == alone_outcomes
        assert _normal(w.r3_state(inventory), adjustment) == alone_state
        retried = w.r3_outcome(partial(w.r3_run, other, second, "B", adjustment))
        check(pair, inventory, hooked, adjustment, [outcome, retried])
    finally:
        other.close()
        inventory.close()
