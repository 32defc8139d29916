"""The primitives an inventory backend provides; the engine does the rest.

All business rules (all-or-nothing reservations, quotas, gifts, backorders,
ledger entries, outbox messages) are written once, in the engine, over the small
set of operations below. A backend stores rows and makes two promises:

1. **Atomic transactions.** Everything done through one :class:`InventoryTxn`
   commits together or not at all; an exception leaving
   :meth:`InventoryBackend.transaction` rolls everything back (counters, ledger,
   records, idempotency keys, backorder queue, quotas, outbox) and propagates
   unchanged.
2. **A counter never goes below what it may.** :meth:`InventoryTxn.change_stock`
   is one conditional statement: it applies a change only when the result keeps
   every counter >= 0 and, when the change lowers availability, ``available``
   >= 0. Two transactions racing for the last unit cannot both get it, without
   any read-then-write window.

Keys are ``(sku, location)`` tuples. Times are aware UTC datetimes; a backend
stores them as it likes (SQLite: integer microseconds; PostgreSQL:
``timestamptz``) but must give back the same instant, to the microsecond.
Records (reservations, adjustments, transfers, locations, idempotency results)
are opaque JSON text written and read by the engine; a backend only stores them
and the few columns it indexes.

Locking (PostgreSQL and other backends with row locks): the engine calls, in one
transaction, in this order, and a backend takes its locks as it goes:

1. :meth:`~InventoryTxn.get_idempotency` (one key), then
2. :meth:`~InventoryTxn.get_reservation` / ``get_adjustment`` / ``get_transfer``
   with ``lock=True``, or :meth:`~InventoryTxn.due_reservations`, then
3. :meth:`~InventoryTxn.lock_stock` with the keys sorted, then
   :meth:`~InventoryTxn.change_stock` calls in sorted key order (or on keys
   already locked), then
4. quotas (``get_quota(..., lock=True)`` in SKU order), ledger, records,
   backorder queue and outbox writes; no stock row is locked or changed after
   a quota row was locked, except rows locked in step 3 already;
5. backorder retries last, never waiting for a lock:
   ``get_reservation(..., lock=True, skip_locked=True)`` of a queued
   reservation, ``lock_stock(its keys, skip_locked=True)``, ``change_stock``
   only on keys that call returned, and ``get_quota(..., lock=True,
   skip_locked=True)``; a request with a busy row (reservation, stock or quota)
   is passed over and stays queued, for the next arrival or
   :meth:`~ordercore.inventory.Inventory.retry_backorders`.

:meth:`~ordercore.inventory.Inventory.reserve_many` decides its placement
candidates before it locks anything: the keys of its requests' located lines and
every stock row of the SKUs that have lines without a location. It locks them
all in one sorted ``lock_stock`` call before any change, and places unlocated
lines only on those rows, so no request of the batch locks a stock row after an
earlier one locked a quota row. :meth:`~ordercore.inventory.Inventory.reserve`
does the same for a request that may need a second pass after a refused first
one (``GiftPolicy.DROP`` with gift lines, or a backorder policy other than
``none``), and :meth:`~ordercore.inventory.Inventory.modify` for a request with
gift lines under ``GiftPolicy.DROP`` (adding the rows the reservation holds).

A row lock is never held across a network call: the engine does no I/O inside
a transaction other than the backend's own statements.

**The one-line reservation (optional).** A backend may also provide
``reserve_one`` (see :class:`ReserveOne`): the whole of the commonest reservation
(one located line, no channel, no idempotency key, no backorder, no safety stock
rule on the SKU) as one transaction of its own, in as few statements as the
database allows. It writes exactly what the general path writes (the conditional
counter change, the record, the ledger entry and the ``stock.changed`` message
built by :func:`stock_payload`), or nothing; :meth:`Inventory.reserve
<ordercore.inventory.Inventory.reserve>` takes the general path whenever it
answers that it did not handle the request.
"""

from __future__ import annotations

import enum
import json.encoder
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Final, NamedTuple, Protocol, runtime_checkable

from ordercore.storage.kit import OutboxEntry

__all__ = [
    "BUSY",
    "Busy",
    "InventoryBackend",
    "InventoryTxn",
    "LedgerRow",
    "ReserveOne",
    "StockKey",
    "StockRow",
    "stock_payload",
    "stock_payload_head",
    "stock_payload_json",
    "stock_payload_tail",
]

#: ``(sku, location)``: the key of one counter row.
StockKey = tuple[str, str]


class Busy(enum.Enum):
    """The answer of a ``skip_locked`` read whose row another transaction holds."""

    BUSY = "busy"


#: What :meth:`InventoryTxn.get_quota` returns with ``skip_locked`` for a row
#: another transaction holds.
BUSY: Final = Busy.BUSY


class StockRow(NamedTuple):
    """The counters of one SKU at one location, as a backend stores them.

    Attributes:
        on_hand: Units on hand.
        reserved: Units reserved.
        in_transfer: Units on their way out.
        damaged: Damaged units (never available).
        version: Increases by one with every change of the row (1 after the first);
            outbox messages carry it as their aggregate version.
    """

    on_hand: int
    reserved: int
    in_transfer: int
    damaged: int
    version: int

    @property
    def available(self) -> int:
        """``on_hand - reserved - in_transfer``."""
        return self.on_hand - self.reserved - self.in_transfer


class LedgerRow(NamedTuple):
    """One ledger entry as a backend stores it (see :class:`~ordercore.inventory.LedgerEntry`).

    Attributes:
        seq: The entry's sequence number; ``0`` when appending (the backend
            assigns increasing numbers as entries are written; gaps are allowed).
            Entries of one ``(sku, location)`` are in commit order, since that
            row's lock orders their transactions; across keys, on a server
            backend, a smaller number may become visible after a larger one.
        at: When it was written.
        sku: The SKU.
        location: The location.
        kind: An :class:`~ordercore.inventory.EntryKind` value.
        on_hand: Delta of on hand.
        reserved: Delta of reserved.
        in_transfer: Delta of in transfer.
        damaged: Delta of damaged.
        reservation_id: The reservation, if any.
        adjustment_id: The adjustment, if any.
        transfer_id: The transfer, if any.
        actor_kind: The actor's kind (``person``, ``system``...).
        actor_id: The actor's id.
        reason: Why, if said.
    """

    seq: int
    at: datetime
    sku: str
    location: str
    kind: str
    on_hand: int
    reserved: int
    in_transfer: int
    damaged: int
    reservation_id: str | None
    adjustment_id: str | None
    transfer_id: str | None
    actor_kind: str
    actor_id: str
    reason: str | None


def stock_payload(sku: str, location: str, row: StockRow, cause: str) -> dict[str, Any]:
    """The payload of a ``stock.changed`` message: a counter row after a change and its cause.

    Example:
        >>> stock_payload("MUG", "WH1", StockRow(5, 2, 0, 0, 3), "reserve")["available"]
        3
    """
    return {
        "sku": sku,
        "location": location,
        "on_hand": row[0],
        "reserved": row[1],
        "in_transfer": row[2],
        "damaged": row[3],
        "available": row[0] - row[1] - row[2],
        "cause": cause,
    }


#: A JSON string literal, as ``json.dumps(text, ensure_ascii=False)`` writes it.
_quote: Final = json.encoder.encode_basestring


def stock_payload_json(sku: str, location: str, row: Sequence[int], cause: str) -> str:
    """:func:`stock_payload` as the outbox stores it (``ordercore.storage.kit.dumps``),
    written out directly.

    Example:
        >>> from ordercore.storage.kit import dumps
        >>> row = StockRow(5, 2, 0, 0, 3)
        >>> stock_payload_json("MUG", "WH1", row, "reserve") == dumps(
        ...     stock_payload("MUG", "WH1", row, "reserve"))
        True
    """
    return (
        f'{{"sku":{_quote(sku)},"location":{_quote(location)},"on_hand":{row[0]},'
        f'"reserved":{row[1]},"in_transfer":{row[2]},"damaged":{row[3]},'
        f'"available":{row[0] - row[1] - row[2]},"cause":{_quote(cause)}}}'
    )


def stock_payload_head(sku: str, location: str) -> str:
    """The text of :func:`stock_payload_json` before the counters (a server fills them in)."""
    return f'{{"sku":{_quote(sku)},"location":{_quote(location)},"on_hand":'


def stock_payload_tail(cause: str) -> str:
    """The text of :func:`stock_payload_json` after the counters."""
    return f',"cause":{_quote(cause)}}}'


class ReserveOne(Protocol):
    """A backend's one-line reservation: one transaction of its own (optional, see above)."""

    def reserve_one(
        self,
        sku: str,
        location: str,
        quantity: int,
        reservation_id: str,
        expires_at: datetime | None,
        record: str,
        at: datetime,
        actor: tuple[str, str],
        event_id: str,
        cause: str,
    ) -> StockRow | int | None:
        """Reserve ``quantity`` of ``sku`` at ``location`` for a new reservation, alone.

        In one transaction: unless the SKU has a safety stock rule (setting
        ``safety:<sku>``), apply the conditional change of ``reserved`` (as
        :meth:`InventoryTxn.change_stock`), insert the reservation record
        (status ``active``, ``record`` as its JSON), append its ``reserve`` ledger
        entry (``actor`` is ``(kind, id)``) and write one outbox message
        (stream ``stock``, aggregate ``"{sku}@{location}"`` at the row's new
        version, topic ``stock.changed``, ``event_id``, payload
        :func:`stock_payload` of the new row with ``cause``); commit.

        Returns:
            The row after the change (everything written and committed); the
            units available there now (an ``int``, 0 without a row) when the
            change was refused; ``None`` when the SKU has a safety stock rule or
            the reservation id is taken. Nothing is written unless a row is
            returned.
        """
        ...


@runtime_checkable
class InventoryTxn(Protocol):
    """One backend transaction. Only valid inside :meth:`InventoryBackend.transaction`.

    Methods raise only on backend failure (a ``StoreError`` subclass); "not found"
    and "refused" are return values.
    """

    # -- counters ---------------------------------------------------------------------

    def lock_stock(
        self, keys: Sequence[StockKey], *, skip_locked: bool = False
    ) -> dict[StockKey, StockRow]:
        """Read the counter rows of ``keys`` and lock them until the transaction ends.

        ``keys`` come sorted and without repeats; a backend with row locks takes
        them in that order (PostgreSQL: ``SELECT ... WHERE (sku, location) IN (...)
        ORDER BY sku, location FOR UPDATE``). Keys without a row are left out of
        the result (no row is created, nothing is locked for them).

        With ``skip_locked``, rows locked by another transaction are not waited
        for and are left out too (``FOR UPDATE SKIP LOCKED``); rows this
        transaction holds already are returned. The engine uses it while retrying
        backorders, so that phase never waits for a lock and cannot deadlock.

        Returns:
            The rows found (and locked), by key.
        """
        ...

    def stock_rows(
        self, sku: str | None = None, location: str | None = None
    ) -> dict[StockKey, StockRow]:
        """Read counter rows without locking: all, or those of a SKU and/or location.

        Returns:
            The rows by key (any order).
        """
        ...

    def change_stock(
        self,
        sku: str,
        location: str,
        on_hand: int = 0,
        reserved: int = 0,
        in_transfer: int = 0,
        damaged: int = 0,
    ) -> StockRow | None:
        """Add the deltas to one counter row in ONE conditional statement, or refuse.

        The change applies only if, afterwards, ``on_hand``, ``reserved``,
        ``in_transfer`` and ``damaged`` are all >= 0 and - when the change lowers
        availability (``on_hand - reserved - in_transfer < 0`` for the deltas) -
        ``on_hand - reserved - in_transfer >= 0``. The check and the write are one
        statement, never a read followed by a write::

            UPDATE stock SET on_hand = on_hand + :oh, reserved = reserved + :r,
                   in_transfer = in_transfer + :t, damaged = damaged + :d,
                   version = version + 1
             WHERE sku = :sku AND location = :loc
               AND on_hand + :oh >= 0 AND reserved + :r >= 0
               AND in_transfer + :t >= 0 AND damaged + :d >= 0
               [AND (on_hand + :oh) - (reserved + :r) - (in_transfer + :t) >= 0]
            RETURNING on_hand, reserved, in_transfer, damaged, version

        A missing row counts as all zeros: when every delta is >= 0 and the deltas
        do not lower availability, the row is created with the deltas and version
        1 (``INSERT ... ON CONFLICT (sku, location) DO UPDATE ... WHERE <the
        same conditions>``); otherwise a missing row means refused. An all-zero
        change of an existing row applies (and bumps the version).

        Returns:
            The row after the change, or ``None`` when refused (nothing changed).
        """
        ...

    def set_stock(self, sku: str, location: str, row: StockRow) -> None:
        """Overwrite (or create) one counter row: for ``repair()`` only.

        The stored version becomes ``row.version``; the other counters are taken as given.
        """
        ...

    # -- ledger -----------------------------------------------------------------------

    def append_ledger(self, rows: Sequence[LedgerRow]) -> None:
        """Append ledger entries (their ``seq`` is ignored and assigned by the backend).

        Entries appended in one call get increasing sequence numbers in the
        order given.
        """
        ...

    def ledger(
        self, sku: str | None, location: str | None, after_seq: int, limit: int
    ) -> list[LedgerRow]:
        """Read entries with ``seq > after_seq``, optionally of one SKU and/or location.

        Returns:
            At most ``limit`` entries, by ascending ``seq``.
        """
        ...

    def ledger_totals(self) -> dict[StockKey, tuple[int, int, int, int]]:
        """The sums of the deltas per key: ``(on_hand, reserved, in_transfer, damaged)``.

        Returns:
            Every key that has at least one ledger entry.
        """
        ...

    # -- reservations -----------------------------------------------------------------

    def get_reservation(
        self, reservation_id: str, *, lock: bool = False, skip_locked: bool = False
    ) -> str | None:
        """Read a reservation record (JSON), locking its row when ``lock`` is true.

        With ``skip_locked`` (and ``lock``), a row locked by another transaction is
        not waited for: the call returns ``None`` as if the row were missing
        (PostgreSQL: ``FOR UPDATE SKIP LOCKED``). The engine uses it when it
        retries backorders after having locked stock rows, which is the reverse
        of the usual lock order; a reservation skipped that way is retried later.

        Returns:
            The JSON text given to the last insert/update, or ``None``.
        """
        ...

    def insert_reservation(
        self, reservation_id: str, status: str, expires_at: datetime | None, data: str
    ) -> bool:
        """Store a new reservation record.

        Returns:
            ``False`` (and nothing written) when the id is taken already, including
            by a concurrent transaction that commits first (PostgreSQL: ``INSERT ...
            ON CONFLICT DO NOTHING``, which waits for that transaction).
        """
        ...

    def update_reservation(
        self, reservation_id: str, status: str, expires_at: datetime | None, data: str
    ) -> None:
        """Replace a stored reservation record with its indexed columns."""
        ...

    def due_reservations(self, now: datetime, limit: int) -> list[str]:
        """Ids of reservations due to expire, earliest first (then by id).

        Due means status ``active`` or ``partially_committed`` and ``expires_at``
        set and ``<= now``; an index on ``(expires_at)`` serves it, never a scan.
        (The engine clears ``expires_at`` at a reservation's first commit, since
        a shipment means the order is paid, so a partially committed
        reservation is never due in practice.) A backend
        with row locks locks the rows it returns and skips rows locked by others
        (``FOR UPDATE SKIP LOCKED``), so concurrent callers share the work.

        Returns:
            At most ``limit`` ids.
        """
        ...

    # -- adjustments and transfers ----------------------------------------------------

    def get_adjustment(self, adjustment_id: str, *, lock: bool = False) -> str | None:
        """Read an adjustment record (JSON), locking its row when ``lock`` is true."""
        ...

    def put_adjustment(self, adjustment_id: str, status: str, data: str) -> None:
        """Insert or replace an adjustment record."""
        ...

    def get_transfer(self, transfer_id: str, *, lock: bool = False) -> str | None:
        """Read a transfer record (JSON), locking its row when ``lock`` is true."""
        ...

    def put_transfer(self, transfer_id: str, status: str, data: str) -> None:
        """Insert or replace a transfer record."""
        ...

    # -- idempotency ------------------------------------------------------------------

    def get_idempotency(self, key: str) -> tuple[str, str] | None:
        """Read the record of an idempotency key, and hold the key until the transaction ends.

        No other transaction may record ``key`` between this call and the end of
        this transaction: a second caller with the same key waits here for the
        first to commit or roll back, then sees its record (PostgreSQL:
        ``pg_advisory_xact_lock`` on a hash of the key, then ``SELECT``; SQLite:
        ``BEGIN IMMEDIATE`` already serialises writers).

        Returns:
            ``(fingerprint, result JSON)``, or ``None`` when the key is new.
        """
        ...

    def put_idempotency(self, key: str, fingerprint: str, result: str, at: datetime) -> None:
        """Record the result of the first request with ``key`` (the key is new)."""
        ...

    # -- backorders -------------------------------------------------------------------

    def enqueue_backorder(self, sku: str, reservation_id: str, at: datetime) -> None:
        """Append a reservation to the back of ``sku``'s queue (no effect if already queued there).

        Queues are first in, first out per SKU: entries come back in the order
        they were enqueued (a backend keeps an increasing sequence number, indexed
        with the SKU).
        """
        ...

    def dequeue_backorder(self, sku: str, reservation_id: str) -> None:
        """Remove a reservation from ``sku``'s queue (no effect if not queued)."""
        ...

    def backorder_queue(self, sku: str | None, limit: int) -> list[tuple[str, str]]:
        """The queue of one SKU (or of all SKUs), oldest first.

        Returns:
            At most ``limit`` ``(sku, reservation_id)`` pairs in enqueue order.
        """
        ...

    # -- channel quotas ---------------------------------------------------------------

    def get_quota(
        self, sku: str, channel: str, *, lock: bool = False, skip_locked: bool = False
    ) -> tuple[int, int] | Busy | None:
        """Read a channel's quota of a SKU, locking its row when ``lock`` is true.

        With ``skip_locked`` (and ``lock``), a row locked by another transaction is
        not waited for: the call returns :data:`BUSY` (PostgreSQL: ``FOR UPDATE
        SKIP LOCKED``, then a plain read to tell a busy row from a missing one); a
        row this transaction holds already is returned. The engine uses it while
        serving backorders, which never waits for a lock; a request whose quota
        row is busy stays queued. A backend without row locks never returns
        :data:`BUSY`.

        Returns:
            ``(quota, used)``; ``None`` when the channel has no quota for the SKU;
            :data:`BUSY` only with ``skip_locked``.
        """
        ...

    def set_quota(self, sku: str, channel: str, quota: int | None) -> None:
        """Set a quota, or delete it with ``None``.

        An existing quota keeps its ``used``; a new one starts at 0.
        """
        ...

    def add_quota_used(self, sku: str, channel: str, delta: int) -> bool:
        """Add ``delta`` to a quota's ``used`` in one conditional statement.

        A positive ``delta`` applies only when ``used + delta <= quota``; a negative
        one always applies, with ``used`` kept >= 0 (``max(used + delta, 0)``).

        Returns:
            Whether it applied (``False`` also when there is no quota row).
        """
        ...

    def quotas(self, sku: str | None) -> dict[tuple[str, str], tuple[int, int]]:
        """All quotas (of one SKU): ``{(sku, channel): (quota, used)}``."""
        ...

    # -- settings ---------------------------------------------------------------------

    def get_setting(self, key: str, *, lock: bool = False) -> str | None:
        """Read a setting (JSON text) by key, locking its row when ``lock`` is true.

        Settings hold small per-inventory state the engine keeps beside the stock:
        safety-stock rules (``safety:<sku>``) and the state of their alerts
        (``crossing:<sku>``), written in the same transaction as the change that
        caused them.
        """
        ...

    def put_setting(self, key: str, value: str | None) -> None:
        """Insert or replace a setting; ``None`` deletes it."""
        ...

    def settings(self, prefix: str) -> dict[str, str]:
        """Every setting whose key starts with ``prefix``."""
        ...

    # -- locations and outbox ---------------------------------------------------------

    def put_location(self, location_id: str, data: str) -> None:
        """Insert or replace a location record (JSON)."""
        ...

    def locations(self) -> list[str]:
        """Every location record (JSON), in any order."""
        ...

    def write_outbox(self, entries: Sequence[OutboxEntry]) -> None:
        """Write outbox messages in this transaction (the order store's shared outbox).

        An entry whose ``event_id`` is stored already is not written again.
        """
        ...


@runtime_checkable
class InventoryBackend(Protocol):
    """Storage for one inventory: opened from a URL by the ``ordercore.inventory`` plugin group.

    A plugin's entry point names a class with ``from_url(url, **options)`` that
    returns a backend; :func:`~ordercore.inventory.open_inventory` wraps it in an
    :class:`~ordercore.inventory.Inventory`.

    Attributes:
        url: The URL it was opened from (a password in it is not repeated by ``repr``).
    """

    url: str

    def transaction(self) -> AbstractContextManager[InventoryTxn]:
        """A write transaction: commits when the block ends, rolls back when it raises.

        Writers of one database are serialised or isolated so that the
        conditional statements of :meth:`InventoryTxn.change_stock` never see
        stale counters (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: READ COMMITTED
        with row locks is enough, as every write is conditional or locked).
        Raises ``StoreClosed`` once closed and ``StoreError`` when the database
        fails; an exception raised inside the block propagates unchanged after
        the rollback.
        """
        ...

    def reading(self) -> AbstractContextManager[InventoryTxn]:
        """A read-only transaction: a consistent snapshot for queries.

        Only the reading methods may be called (``lock=False``); the engine
        never writes through it. It may be the same as :meth:`transaction`.
        """
        ...

    def close(self) -> None:
        """Release connections; safe to call twice."""
        ...
