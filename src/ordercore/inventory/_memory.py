"""The memory inventory backend: for tests, demos and single-process tools.

One lock serialises transactions; every write records how to undo itself, so a
transaction that raises leaves nothing behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final

from ordercore.errors import ConfigurationError, StoreClosed
from ordercore.inventory._backend import Busy, LedgerRow, StockKey, StockRow
from ordercore.storage import MemoryStore
from ordercore.storage.kit import OutboxEntry

__all__ = ["MemoryInventoryBackend"]

_MISSING: Final[Any] = object()
_DUE: Final = frozenset({"active", "partially_committed"})


class _State:
    """Everything a memory inventory holds."""

    def __init__(self) -> None:
        self.stock: dict[StockKey, StockRow] = {}
        self.ledger: list[LedgerRow] = []
        self.seq = 0
        self.reservations: dict[str, tuple[str, datetime | None, str]] = {}
        self.adjustments: dict[str, str] = {}
        self.transfers: dict[str, str] = {}
        self.idempotency: dict[str, tuple[str, str]] = {}
        #: sku -> {reservation_id: queue sequence}, in enqueue order
        self.backorders: dict[str, dict[str, int]] = {}
        self.queue_seq = 0
        self.quotas: dict[tuple[str, str], tuple[int, int]] = {}
        self.locations: dict[str, str] = {}
        self.settings: dict[str, str] = {}
        self.outbox: list[OutboxEntry] = []


class _MemoryTxn:
    """One memory transaction: writes go straight to the state, with an undo log."""

    def __init__(self, state: _State, writable: bool) -> None:
        self._s = state
        self._writable = writable
        self._undo: list[Callable[[], None]] = []
        self.outbox: list[OutboxEntry] = []

    def _check(self) -> None:
        if not self._writable:
            raise ConfigurationError("a reading transaction cannot write")

    def _put(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        self._check()
        old = table.get(key, _MISSING)
        table[key] = value
        if old is _MISSING:
            self._undo.append(lambda: table.pop(key, None))
        else:
            self._undo.append(lambda: table.__setitem__(key, old))

    def _pop(self, table: dict[Any, Any], key: Any) -> None:
        self._check()
        old = table.pop(key, _MISSING)
        if old is not _MISSING:
            self._undo.append(lambda: table.__setitem__(key, old))

    def rollback(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        self.outbox.clear()

    # -- counters ---------------------------------------------------------------------

    def lock_stock(
        self, keys: Sequence[StockKey], *, skip_locked: bool = False
    ) -> dict[StockKey, StockRow]:
        stock = self._s.stock
        return {key: stock[key] for key in keys if key in stock}

    def stock_rows(
        self, sku: str | None = None, location: str | None = None
    ) -> dict[StockKey, StockRow]:
        if sku is not None and location is not None:
            row = self._s.stock.get((sku, location))
            return {} if row is None else {(sku, location): row}
        return {
            key: row
            for key, row in self._s.stock.items()
            if (sku is None or key[0] == sku) and (location is None or key[1] == location)
        }

    def change_stock(
        self,
        sku: str,
        location: str,
        on_hand: int = 0,
        reserved: int = 0,
        in_transfer: int = 0,
        damaged: int = 0,
    ) -> StockRow | None:
        key = (sku, location)
        row = self._s.stock.get(key)
        if row is None:
            if min(on_hand, reserved, in_transfer, damaged) < 0:
                return None
            if on_hand - reserved - in_transfer < 0:
                return None
            new = StockRow(on_hand, reserved, in_transfer, damaged, 1)
        else:
            new = StockRow(
                row.on_hand + on_hand,
                row.reserved + reserved,
                row.in_transfer + in_transfer,
                row.damaged + damaged,
                row.version + 1,
            )
            if min(new.on_hand, new.reserved, new.in_transfer, new.damaged) < 0:
                return None
            if on_hand - reserved - in_transfer < 0 and new.available < 0:
                return None
        self._put(self._s.stock, key, new)
        return new

    def set_stock(self, sku: str, location: str, row: StockRow) -> None:
        self._put(self._s.stock, (sku, location), StockRow(*row))

    # -- ledger -----------------------------------------------------------------------

    def append_ledger(self, rows: Sequence[LedgerRow]) -> None:
        self._check()
        state = self._s
        start, seq = len(state.ledger), state.seq
        for row in rows:
            state.seq += 1
            state.ledger.append(row._replace(seq=state.seq))

        def undo() -> None:
            del state.ledger[start:]
            state.seq = seq

        self._undo.append(undo)

    def ledger(
        self, sku: str | None, location: str | None, after_seq: int, limit: int
    ) -> list[LedgerRow]:
        found = []
        for row in self._s.ledger:
            if row.seq <= after_seq:
                continue
            if (sku is None or row.sku == sku) and (location is None or row.location == location):
                found.append(row)
                if len(found) >= limit:
                    break
        return found

    def ledger_totals(self) -> dict[StockKey, tuple[int, int, int, int]]:
        totals: dict[StockKey, list[int]] = {}
        for row in self._s.ledger:
            sums = totals.setdefault((row.sku, row.location), [0, 0, 0, 0])
            sums[0] += row.on_hand
            sums[1] += row.reserved
            sums[2] += row.in_transfer
            sums[3] += row.damaged
        return {key: (a, b, c, d) for key, (a, b, c, d) in totals.items()}

    # -- reservations -----------------------------------------------------------------

    def get_reservation(
        self, reservation_id: str, *, lock: bool = False, skip_locked: bool = False
    ) -> str | None:
        found = self._s.reservations.get(reservation_id)
        return None if found is None else found[2]

    def insert_reservation(
        self, reservation_id: str, status: str, expires_at: datetime | None, data: str
    ) -> bool:
        if reservation_id in self._s.reservations:
            return False
        self._put(self._s.reservations, reservation_id, (status, expires_at, data))
        return True

    def update_reservation(
        self, reservation_id: str, status: str, expires_at: datetime | None, data: str
    ) -> None:
        self._put(self._s.reservations, reservation_id, (status, expires_at, data))

    def due_reservations(self, now: datetime, limit: int) -> list[str]:
        due = sorted(
            (expires, rid)
            for rid, (status, expires, _) in self._s.reservations.items()
            if status in _DUE and expires is not None and expires <= now
        )
        return [rid for _, rid in due[:limit]]

    # -- adjustments and transfers ----------------------------------------------------

    def get_adjustment(self, adjustment_id: str, *, lock: bool = False) -> str | None:
        return self._s.adjustments.get(adjustment_id)

    def put_adjustment(self, adjustment_id: str, status: str, data: str) -> None:
        self._put(self._s.adjustments, adjustment_id, data)

    def get_transfer(self, transfer_id: str, *, lock: bool = False) -> str | None:
        return self._s.transfers.get(transfer_id)

    def put_transfer(self, transfer_id: str, status: str, data: str) -> None:
        self._put(self._s.transfers, transfer_id, data)

    # -- idempotency ------------------------------------------------------------------

    def get_idempotency(self, key: str) -> tuple[str, str] | None:
        return self._s.idempotency.get(key)

    def put_idempotency(self, key: str, fingerprint: str, result: str, at: datetime) -> None:
        self._put(self._s.idempotency, key, (fingerprint, result))

    # -- backorders -------------------------------------------------------------------

    def enqueue_backorder(self, sku: str, reservation_id: str, at: datetime) -> None:
        self._check()
        state = self._s
        queue = state.backorders.get(sku)
        if queue is None:
            queue = {}
            self._put(state.backorders, sku, queue)
        if reservation_id in queue:
            return
        state.queue_seq += 1
        queue[reservation_id] = state.queue_seq

        def undo() -> None:
            queue.pop(reservation_id, None)

        self._undo.append(undo)

    def dequeue_backorder(self, sku: str, reservation_id: str) -> None:
        queue = self._s.backorders.get(sku)
        if queue is None or reservation_id not in queue:
            return
        self._check()
        snapshot = dict(queue)
        del queue[reservation_id]

        def undo() -> None:
            queue.clear()
            queue.update(snapshot)

        self._undo.append(undo)

    def backorder_queue(self, sku: str | None, limit: int) -> list[tuple[str, str]]:
        if sku is not None:
            queue = self._s.backorders.get(sku, {})
            return [(sku, rid) for rid in list(queue)[:limit]]
        every = sorted(
            (seq, s, rid) for s, queue in self._s.backorders.items() for rid, seq in queue.items()
        )
        return [(s, rid) for _, s, rid in every[:limit]]

    # -- channel quotas ---------------------------------------------------------------

    def get_quota(
        self, sku: str, channel: str, *, lock: bool = False, skip_locked: bool = False
    ) -> tuple[int, int] | Busy | None:
        # One writer at a time: no row is ever busy.
        return self._s.quotas.get((sku, channel))

    def set_quota(self, sku: str, channel: str, quota: int | None) -> None:
        key = (sku, channel)
        if quota is None:
            self._pop(self._s.quotas, key)
            return
        used = self._s.quotas.get(key, (0, 0))[1]
        self._put(self._s.quotas, key, (quota, used))

    def add_quota_used(self, sku: str, channel: str, delta: int) -> bool:
        key = (sku, channel)
        found = self._s.quotas.get(key)
        if found is None:
            return False
        quota, used = found
        if delta > 0 and used + delta > quota:
            return False
        self._put(self._s.quotas, key, (quota, max(used + delta, 0)))
        return True

    def quotas(self, sku: str | None) -> dict[tuple[str, str], tuple[int, int]]:
        return {key: value for key, value in self._s.quotas.items() if sku is None or key[0] == sku}

    # -- settings ---------------------------------------------------------------------

    def get_setting(self, key: str, *, lock: bool = False) -> str | None:
        return self._s.settings.get(key)

    def put_setting(self, key: str, value: str | None) -> None:
        if value is None:
            self._pop(self._s.settings, key)
        else:
            self._put(self._s.settings, key, value)

    def settings(self, prefix: str) -> dict[str, str]:
        return {k: v for k, v in sorted(self._s.settings.items()) if k.startswith(prefix)}

    # -- locations and outbox ---------------------------------------------------------

    def put_location(self, location_id: str, data: str) -> None:
        self._put(self._s.locations, location_id, data)

    def locations(self) -> list[str]:
        return list(self._s.locations.values())

    def write_outbox(self, entries: Sequence[OutboxEntry]) -> None:
        self._check()
        self.outbox.extend(entries)


class MemoryInventoryBackend:
    """An inventory backend in memory (``memory://``).

    Args:
        store: A :class:`~ordercore.storage.MemoryStore` whose outbox receives the
            stock messages (published when a transaction commits); the messages
            are also kept in :attr:`outbox`.

    Example:
        >>> from ordercore.inventory import open_inventory
        >>> inventory = open_inventory("memory://")
        >>> inventory.verify()
        []
    """

    def __init__(self, *, store: MemoryStore | None = None, url: str = "memory://") -> None:
        self.url = url
        self.store = store
        self._state = _State()
        self._closed = False
        self._lock = threading.RLock()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MemoryInventoryBackend:
        """Open ``memory://`` (options: ``store=`` a MemoryStore for the outbox)."""
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() != "memory" or rest.strip("/"):
            raise ConfigurationError(f"a memory inventory URL is 'memory://', got {url[:80]!r}")
        unknown = set(options) - {"store"}
        if unknown:
            raise ConfigurationError(f"unknown memory inventory options: {sorted(unknown)}")
        return cls(store=options.get("store"), url=url)

    @property
    def outbox(self) -> list[OutboxEntry]:
        """Every stock message written so far, oldest first."""
        return list(self._state.outbox)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed(f"the inventory {self.url} is closed")

    @contextmanager
    def transaction(self) -> Iterator[_MemoryTxn]:
        """A write transaction under the backend's lock."""
        self._check_open()
        with self._lock:
            txn = _MemoryTxn(self._state, writable=True)
            try:
                yield txn
            except BaseException:
                txn.rollback()
                raise
            if txn.outbox:
                self._state.outbox.extend(txn.outbox)
                if self.store is not None:
                    self.store.publish(txn.outbox)

    @contextmanager
    def reading(self) -> Iterator[_MemoryTxn]:
        """A read-only view under the backend's lock."""
        self._check_open()
        with self._lock:
            yield _MemoryTxn(self._state, writable=False)

    def close(self) -> None:
        self._closed = True

    def __repr__(self) -> str:
        return f"<MemoryInventoryBackend {self.url}{' closed' if self._closed else ''}>"
