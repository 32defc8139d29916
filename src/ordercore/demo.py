"""The demo: a realistic multi-channel batch, stored in SQLite, moved through its lifecycle.

``ordercore demo`` runs :func:`run_demo` and prints :func:`format_summary`. It
shows, end to end on the embedded default, what the library does with orders from
seven channels plus POS: one canonical shape, exact money, times normalised across
zones, a store with an outbox, orders moving through the default lifecycle over a
simulated working day (some cancelled, some into after-sale, some held for
review), SLA timers that breach and escalate, and totals that add up to the fen.
Their stock lives in the same file (:func:`~ordercore.inventory.open_inventory`):
three warehouses reserve it by the buyer's region, shipping commits it,
cancelling releases it, unpaid orders' holds expire on payment timeout, and a
live-stream burst on one hot SKU is refused cleanly once its stock runs out.
Finally the built-in rule packs (D13-D19) decide for every order read back, and a
few decisions are printed with their explain traces.

The demo only ever deletes a database it made itself: it creates its file
exclusively and marks it with a table ``ordercore_demo`` holding one marker row.
Any other existing file at the path (an ordercore store, an application database,
an empty or non-SQLite file) is refused and left untouched.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import textwrap
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, TextIO
from urllib.parse import quote

from ordercore.errors import ConfigurationError, InsufficientStock
from ordercore.inventory import (
    STOCK_STREAM,
    Demand,
    Drift,
    Inventory,
    Location,
    Region,
    ReservationLine,
    ReservationRequest,
    StockLevel,
    allocate,
    open_inventory,
    serves,
)
from ordercore.lifecycle import BREACHED, TRANSITIONED, Lifecycle, SlaService, default_lifecycle
from ordercore.money import Money
from ordercore.notify import Notification
from ordercore.progress import Progress
from ordercore.rules import Decision, RuleContext, RuleSet, apply_decision, load_packs
from ordercore.schema import Actor, ActorKind, DiscountFunder, Order, OrderStatus
from ordercore.storage import OrderQuery, SQLiteStore
from ordercore.testing import CATALOGUE, OrderFactory
from ordercore.timestamps import utc_now

__all__ = ["DemoSummary", "run_demo"]

#: The table that marks a database as made by the demo (the store never writes it).
_DEMO_MARKER_TABLE: Final = "ordercore_demo"
#: The text of the marker row.
_DEMO_MARKER: Final = "made by ordercore demo; safe to delete"

#: Statuses whose buyer has paid and whose order stands: every status but
#: ``pending_payment`` and ``cancelled``. Their value is the money collected.
_COLLECTED_STATUSES: Final = frozenset(OrderStatus) - {
    OrderStatus.PENDING_PAYMENT,
    OrderStatus.CANCELLED,
}

_SIDE_FILES: Final = ("-wal", "-shm", "-journal")

#: The simulated working day: rounds of transitions this far apart, the last one now.
_ROUNDS: Final = 4
_ROUND_GAP: Final = timedelta(hours=3)
#: The next step of an order moving forward on the main line, by its state.
_FORWARD: Final[dict[str, str]] = {
    "pending_payment": "pay",
    "paid": "allocate",
    "allocated": "pick",
    "picking": "pack",
    "packed.awaiting_outbound": "ship",
    "shipped": "start_transit",
    "in_transit": "deliver",
    "delivered": "complete",
    "under_review.risk_review": "release",
    "under_review.cs_review": "release",
}
#: Detours taken now and then, by state: (trigger, chance).
_DETOURS: Final[dict[str, tuple[tuple[str, float], ...]]] = {
    # Payment timeouts (close_unpaid) come from the stock holds expiring: see _Stock.
    "pending_payment": (("cancel_by_buyer", 0.05),),
    "paid": (("hold_for_risk_review", 0.06), ("cancel_by_buyer", 0.04)),
    "delivered": (("request_return_refund", 0.08), ("request_exchange", 0.03)),
    "completed": (("request_return_refund", 0.02),),
    "under_review.risk_review": (("cancel_by_seller", 0.20),),
    "after_sale.return_refund": (("resolve_after_sale", 0.5),),
    "after_sale.exchange": (("resolve_after_sale", 0.5),),
}
#: Chance that an order waits a round (the warehouse is busy): what makes SLAs breach.
_WAIT: Final = 0.35
_WIDTH: Final = 100  # footnotes wrap here


@dataclass
class _MoneyTotals:
    """Money over a set of orders, by component.

    ``order_value`` sums what every order costs its buyer (``amounts.paid``, which
    is also what an unpaid order owes); ``collected`` sums it over the orders whose
    status is neither ``pending_payment`` nor ``cancelled``.

    Example:
        >>> from ordercore.testing import CATALOGUE, OrderFactory
        >>> totals = _MoneyTotals()
        >>> totals.add(OrderFactory(seed=1).order(status="cancelled"))
        >>> totals.orders, totals.collected_orders, totals.collected.amount
        (1, 0, Decimal('0.00'))
    """

    orders: int = 0
    collected_orders: int = 0
    goods: Money = field(default_factory=Money.zero)
    shipping: Money = field(default_factory=Money.zero)
    tax: Money = field(default_factory=Money.zero)
    service_fee: Money = field(default_factory=Money.zero)
    adjustment: Money = field(default_factory=Money.zero)
    discounts: dict[DiscountFunder, Money] = field(
        default_factory=lambda: {funder: Money.zero() for funder in DiscountFunder}
    )
    order_value: Money = field(default_factory=Money.zero)
    collected: Money = field(default_factory=Money.zero)

    def add(self, order: Order) -> None:
        """Add one order's amounts."""
        amounts = order.amounts
        self.orders += 1
        self.goods += amounts.goods
        self.shipping += amounts.shipping
        self.tax += amounts.tax
        self.service_fee += amounts.service_fee
        self.adjustment += amounts.adjustment
        for funder in DiscountFunder:
            self.discounts[funder] += amounts.discount_by(funder)
        self.order_value += amounts.paid
        if order.status in _COLLECTED_STATUSES:
            self.collected_orders += 1
            self.collected += amounts.paid

    def merge(self, other: _MoneyTotals) -> None:
        """Add another set of totals."""
        self.orders += other.orders
        self.collected_orders += other.collected_orders
        self.goods += other.goods
        self.shipping += other.shipping
        self.tax += other.tax
        self.service_fee += other.service_fee
        self.adjustment += other.adjustment
        for funder in DiscountFunder:
            self.discounts[funder] += other.discounts[funder]
        self.order_value += other.order_value
        self.collected += other.collected

    @property
    def discount_total(self) -> Money:
        """Every discount, whoever funds it."""
        return sum(self.discounts.values(), Money.zero())

    @property
    def balances(self) -> bool:
        """Whether goods + shipping + tax + fees + adjustment - discounts = order value."""
        charged = self.goods + self.shipping + self.tax + self.service_fee + self.adjustment
        return charged - self.discount_total == self.order_value


# -- stock ------------------------------------------------------------------------------


#: The warehouses, each serving its regions; lower priority numbers are preferred elsewhere.
_WAREHOUSES: Final = (
    Location(
        id="WH-HZ",
        name="Hangzhou",
        region="east_china",
        priority=10,
        regions_served=("east_china", "central_china"),
    ),
    Location(
        id="WH-GZ",
        name="Guangzhou",
        region="south_china",
        priority=20,
        regions_served=("south_china", "southwest_china"),
    ),
    Location(
        id="WH-BJ",
        name="Beijing",
        region="north_china",
        priority=30,
        regions_served=("north_china", "northeast_china", "northwest_china"),
    ),
)
#: What is short where: Beijing gets half the sofas its regions order, so some go from elsewhere.
_SHORT: Final[dict[str, frozenset[str]]] = {"WH-BJ": frozenset({"SOF-2026-GREY", "SOF-2026-BEIGE"})}
#: States whose orders hold stock when the day starts: ordered, not shipped, not cancelled.
_HOLDING_STATES: Final = frozenset(
    {"pending_payment", "paid", "under_review", "allocated", "picking", "packed"}
)
#: How long an unpaid order holds its stock (its hold was placed some time before the day).
_PAYMENT_WINDOW: Final = timedelta(hours=12)
#: The live stream's hot SKU: limited stock at Hangzhou, one per buyer, a short payment window.
_HOT_SKU: Final = "TEA-LJ-GIFT"
_HOT_LOCATION: Final = "WH-HZ"
_LIVE_TTL: Final = timedelta(minutes=15)
_BURST_WAVE: Final = 50  # buyers whose requests reach the inventory together
_CANCEL_TRIGGERS: Final = frozenset({"cancel_by_buyer", "cancel_by_seller"})


@dataclass
class _Reservations:
    """What happened to the orders' reservations.

    Attributes:
        made: Orders whose stock was reserved (allocated by region, then reserved).
        own_region: Of those, served by a warehouse of the order's region.
        other_region: Served whole by a warehouse of another region.
        split: Split across warehouses.
        short: Orders that could not be reserved (not enough stock anywhere).
        committed: Committed when the order shipped.
        released: Released when the order was cancelled.
        expired: Expired by ``expire_due`` when the payment window ran out.
    """

    made: int = 0
    own_region: int = 0
    other_region: int = 0
    split: int = 0
    short: int = 0
    committed: int = 0
    released: int = 0
    expired: int = 0

    @property
    def held(self) -> int:
        """Reservations still holding stock at the end."""
        return self.made - self.committed - self.released - self.expired


@dataclass
class _Burst:
    """The live-stream burst: one-unit reservations of the hot SKU, more than there is.

    Attributes:
        sku: The hot SKU.
        location: Where its stock is.
        stock: Units available when the burst started.
        asked: Reservation requests (one unit each).
        reserved: Requests reserved.
        refused: Requests refused with ``InsufficientStock``.
        oversold: Units reserved beyond the stock (must be 0).
    """

    sku: str = _HOT_SKU
    location: str = _HOT_LOCATION
    stock: int = 0
    asked: int = 0
    reserved: int = 0
    refused: int = 0
    oversold: int = 0


#: The demo's scenario for the carrier pack (D19): SF had a bad day.
_CARRIER_RATES: Final = {"SF": "0.61", "ZTO": "0.93", "YTO": "0.88"}
#: Rules whose first decision the demo explains, in this order.
_EXPLAINED: Final = ("douyin-sofa-pillow", "high-value", "engraving-to-line-c")


@dataclass
class _Decisions:
    """What the built-in rule packs decided for the stored orders.

    Attributes:
        ruleset: The combined packs' name and version (``ordercore.builtin v1``).
        rules: How many rules the combined packs hold.
        evaluated: Orders the rules were evaluated on.
        matched: Orders per rule whose actions apply.
        actions: Actions per action name.
        changed: Orders that applying the decision changed.
        unbalanced_after: Orders whose amounts added up before applying and not after
            (must be none).
        errors: Rules that failed on some order, ``(rule, message)`` (must be none).
        explained: A few decisions with their traces, as printed.
    """

    ruleset: str = ""
    rules: int = 0
    evaluated: int = 0
    matched: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    changed: int = 0
    unbalanced_after: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    explained: list[str] = field(default_factory=list)

    def record(self, order: Order, decision: Decision) -> None:
        self.evaluated += 1
        self.matched.update(decision.matched)
        self.actions.update(planned.action.name for planned in decision.actions)
        self.errors.extend(decision.errors)
        changed = apply_decision(order, decision)
        if changed != order:
            self.changed += 1
        if order.amounts.balances and not changed.amounts.balances:
            self.unbalanced_after.append(order.id)


class _RuleRun:
    """Evaluates the built-in packs on each order read back and keeps a few to explain."""

    def __init__(self, levels: Sequence[StockLevel], now: datetime) -> None:
        self.rules: RuleSet = load_packs()
        stock: Counter[str] = Counter()
        for level in levels:
            stock[level.sku] += level.available
        self.context = RuleContext(now=now, stock=dict(stock), carriers=_CARRIER_RATES)
        self.found = _Decisions(
            ruleset=f"{self.rules.name} v{self.rules.version}", rules=len(self.rules.rules)
        )
        self._examples: dict[str, Order] = {}

    def evaluate(self, order: Order) -> None:
        decision = self.rules.evaluate(order, self.context)
        self.found.record(order, decision)
        for rule in _EXPLAINED:
            taken = {o.id for o in self._examples.values()}
            if rule in decision.matched and rule not in self._examples and order.id not in taken:
                self._examples[rule] = order

    def finish(self) -> _Decisions:
        for rule in _EXPLAINED:
            order = self._examples.get(rule)
            if order is not None:
                traced = self.rules.evaluate(order, self.context, explain=True)
                self.found.explained.append(_explained(traced, order))
        return self.found


def _explained(decision: Decision, order: Order) -> str:
    """A decision's actions, then the traces of the rules that matched (the rest in one line)."""
    lines = [
        f"order {order.channel}:{order.channel_order_id} "
        f"({order.amounts.paid} paid, {_count(len(order.lines), 'line')}):"
    ]
    lines += [f"  -> {planned.describe()}" for planned in decision.actions]
    lines += [f"  overridden: {o.dropped.describe()}" for o in decision.overridden]
    others = []
    for trace in decision.trace or ():
        if trace.outcome.value == "matched":
            lines += ["  " + line for line in trace.explain().splitlines()]
        else:
            others.append(trace.rule)
    if others:
        lines.append(f"  not matched: {', '.join(others)}")
    wrapped: list[str] = []
    for line in lines:
        indent = " " * (len(line) - len(line.lstrip()) + 4)
        wrapped += textwrap.wrap(line, width=_WIDTH, subsequent_indent=indent) or [line]
    return "\n".join(wrapped)


@dataclass
class DemoSummary:
    """What the demo found when it read the orders back from the store.

    Attributes:
        path: The SQLite file.
        stored: Orders in the store (``store.count()``).
        read_back: Orders read back by paging through the store.
        by_channel_status: Order counts per (channel, canonical status value).
        status_counts: ``store.count(status=s)`` for every canonical status.
        totals: Money per channel.
        grand_total: Money over all orders, summed from the orders themselves.
        unbalanced: Orders whose amounts do not add up (should be none).
        outbox_pending: Outbox messages written with the orders.
        problems: Integrity-check findings (should be none).
        first: The earliest order by placement time (UTC).
        last: The latest order by placement time (UTC).
        states: Orders per lifecycle state (``"packed.awaiting_outbound"``).
        transitions: Transitions stored by the lifecycle run.
        events: Events in the orders' histories, by type.
        breaches: SLA breaches handled, by (state, escalation level, who was told).
        open_timers: SLA timers still armed at the end (not yet due).
        locations: The warehouses.
        stock: Every stock level at the end (``inventory.stock(sku)`` per SKU).
        reservations: What happened to the orders' reservations.
        burst: The live-stream burst on the hot SKU.
        drift: What ``inventory.verify()`` found (should be nothing).
        ledger_entries: Entries in the stock ledger.
        stock_messages: Outbox messages the inventory wrote (stream ``stock``).
        decisions: What the built-in rule packs decided for the orders read back.

    Example:
        >>> import tempfile, pathlib
        >>> db = pathlib.Path(tempfile.mkdtemp()) / "demo.db"
        >>> summary = run_demo(db, orders=5, progress=False)
        >>> summary.stored, summary.ok
        (5, True)
    """

    path: Path
    stored: int
    read_back: int
    by_channel_status: Counter[tuple[str, str]]
    status_counts: dict[str, int]
    totals: dict[str, _MoneyTotals]
    grand_total: _MoneyTotals
    unbalanced: list[str]
    outbox_pending: int
    problems: list[str]
    first: Order | None
    last: Order | None
    states: Counter[str] = field(default_factory=Counter)
    transitions: int = 0
    events: Counter[str] = field(default_factory=Counter)
    breaches: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    open_timers: int = 0
    locations: list[Location] = field(default_factory=list)
    stock: list[StockLevel] = field(default_factory=list)
    reservations: _Reservations = field(default_factory=_Reservations)
    burst: _Burst = field(default_factory=_Burst)
    drift: list[Drift] = field(default_factory=list)
    ledger_entries: int = 0
    stock_messages: int = 0
    decisions: _Decisions = field(default_factory=_Decisions)

    @property
    def channel_sum(self) -> _MoneyTotals:
        """The per-channel totals added up (equal to :attr:`grand_total` when all is well)."""
        summed = _MoneyTotals()
        for totals in self.totals.values():
            summed.merge(totals)
        return summed

    @property
    def statuses_agree(self) -> bool:
        """Whether ``store.count(status=s)`` matches the orders read back, for every status."""
        tallied: Counter[str] = Counter()
        for (_, status), count in self.by_channel_status.items():
            tallied[status] += count
        return all(self.status_counts.get(s.value, 0) == tallied[s.value] for s in OrderStatus)

    def stock_at(self, location: str) -> tuple[int, int, int]:
        """On hand, reserved and available at ``location``, summed over its SKUs."""
        here = [level for level in self.stock if level.location == location]
        return (
            sum(level.on_hand for level in here),
            sum(level.reserved for level in here),
            sum(level.available for level in here),
        )

    @property
    def breach_count(self) -> int:
        """SLA breaches handled, every escalation level counted."""
        return sum(self.breaches.values())

    @property
    def ok(self) -> bool:
        """Every order came back, every amount adds up, the store and the stock are intact."""
        return (
            self.read_back == self.stored
            and not self.unbalanced
            and not self.problems
            and self.outbox_pending
            == self.stored + self.transitions + self.breach_count + self.stock_messages
            and not self.drift
            and self.burst.oversold == 0
            and self.events[TRANSITIONED] == self.transitions
            and self.events[BREACHED] == self.breach_count
            and self.channel_sum == self.grand_total
            and self.grand_total.balances
            and self.statuses_agree
            and self.decisions.evaluated == self.read_back
            and not self.decisions.unbalanced_after
            and not self.decisions.errors
        )


def _is_demo_database(path: str | Path) -> bool:
    """Whether ``path`` is a SQLite database made by the demo (it holds the marker row)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            row = db.execute(f"SELECT note FROM {_DEMO_MARKER_TABLE} WHERE id = 1").fetchone()
    except sqlite3.Error:
        return False
    return row is not None and row[0] == _DEMO_MARKER


def _check_demo_path(path: str | Path) -> None:
    """Make sure the demo may write ``path``: it is free, or holds an earlier demo database.

    Raises:
        ConfigurationError: something else exists at ``path``; it is left untouched.
    """
    path = Path(path)
    if os.path.lexists(path) and not _is_demo_database(path):
        raise ConfigurationError(
            f"{path} exists and was not made by ordercore demo; it was left untouched "
            "(pass another --db path)"
        )


def _create_demo_database(path: Path) -> None:
    """Replace an earlier demo database at ``path`` by a new, empty file of our own."""
    _check_demo_path(path)
    if os.path.lexists(path):
        for suffix in _SIDE_FILES:
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.unlink()
    try:
        # Exclusive creation: whatever the demo later deletes, it made itself.
        with open(path, "x"):
            pass
    except FileExistsError:
        raise ConfigurationError(
            f"{path} appeared while the demo started; it was left untouched"
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"cannot create {path}: {exc.strerror}") from None


def _mark_demo_database(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db, db:
        db.execute(
            f"CREATE TABLE {_DEMO_MARKER_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1), "
            "note TEXT NOT NULL, created_at TEXT NOT NULL)"
        )
        db.execute(
            f"INSERT INTO {_DEMO_MARKER_TABLE} VALUES (1, ?, ?)",
            (_DEMO_MARKER, utc_now().isoformat()),
        )


# -- the stock --------------------------------------------------------------------------


class _Stock:
    """The demo's inventory: holds stock for the orders and follows their transitions.

    Unpaid orders hold their stock for :data:`_PAYMENT_WINDOW`; paying confirms
    the hold (no time limit any more), shipping commits it, cancelling releases it,
    and a window that runs out expires it (``expire_due``), which is what closes
    the order on payment timeout.
    """

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.counts = _Reservations()
        self.holding: set[str] = set()  # orders with a reservation open
        self._locations = {location.id: location for location in _WAREHOUSES}

    def home(self, demand: Demand) -> str:
        """The warehouse serving the demand's region (the preferred one when none does)."""
        return next((w.id for w in _WAREHOUSES if serves(w, demand.destination)), _WAREHOUSES[0].id)

    def receive(self, demand: Counter[tuple[str, str]], *, hot_stock: int) -> None:
        """Add the warehouses and receive what their regions will ask for, and a margin.

        Each warehouse gets half as much again as ``demand`` (units per warehouse
        and SKU) plus 3 of every SKU, except what :data:`_SHORT` says; the live
        stream's hot SKU gets ``hot_stock`` units at :data:`_HOT_LOCATION`.
        """
        actor = Actor(kind=ActorKind.PERSON, id="demo-receiving")
        for warehouse in _WAREHOUSES:
            self.inventory.add_location(warehouse)
            for product in CATALOGUE:
                wanted = demand[(warehouse.id, product.sku)]
                if product.sku in _SHORT.get(warehouse.id, ()):
                    units = wanted // 2
                else:
                    units = wanted * 3 // 2 + 3
                if units:
                    self.inventory.receive(
                        product.sku, warehouse.id, units, actor=actor, reason="inbound"
                    )
        self.inventory.receive(
            _HOT_SKU, _HOT_LOCATION, hot_stock, actor=actor, reason="live-stream allotment"
        )

    def hold(self, demand: Demand, *, now: datetime, ttl: timedelta | None = None) -> None:
        """Allocate an order's demand by region and reserve the plan (``ttl``: until paid)."""
        assert demand.order_id is not None
        plan = allocate(self.inventory, demand)
        try:
            self.inventory.reserve(plan.to_requests(demand.order_id, ttl=ttl), now=now)
        except InsufficientStock:
            self.counts.short += 1
            return
        self.counts.made += 1
        self.holding.add(demand.order_id)
        if len(plan.locations) > 1:
            self.counts.split += 1
        elif serves(self._locations[plan.locations[0]], plan.demand.destination):
            self.counts.own_region += 1
        else:
            self.counts.other_region += 1

    def expire(self, now: datetime) -> set[str]:
        """Expire the holds whose payment window ran out by ``now``; their order ids."""
        expired: set[str] = set()
        while batch := self.inventory.expire_due(now):
            expired.update(reservation.id for reservation in batch)
        self.counts.expired += len(expired)
        self.holding -= expired
        return expired

    def follow(self, order: Order, trigger: str, now: datetime) -> None:
        """Apply what a transition the order took means for its stock."""
        if order.id not in self.holding:
            return
        if trigger == "pay":
            self._confirm(order.id, now)
        elif trigger == "ship":
            self.inventory.commit(order.id, now=now)
            self.counts.committed += 1
            self.holding.discard(order.id)
        elif trigger in _CANCEL_TRIGGERS:
            self.inventory.release(order.id, reason=trigger, now=now)
            self.counts.released += 1
            self.holding.discard(order.id)

    def _confirm(self, order_id: str, now: datetime) -> None:
        """The order was paid: keep its hold without a time limit (same lines, no TTL)."""
        held = self.inventory.reservation(order_id)
        lines = tuple(
            ReservationLine(sku=line.sku, quantity=line.quantity, location=line.location)
            for line in held.lines
        )
        request = ReservationRequest(
            reservation_id=order_id, lines=lines, channel=held.channel, ttl=None
        )
        self.inventory.modify(order_id, request, now=now)

    def burst(self, asked: int, *, now: datetime) -> _Burst:
        """``asked`` buyers each try to reserve one unit of the hot SKU, in waves."""
        stock = self.inventory.available(_HOT_SKU, location=_HOT_LOCATION)
        result = _Burst(stock=stock, asked=asked)
        requests = [
            ReservationRequest(
                reservation_id=f"live-{number:05d}",
                lines=(ReservationLine(sku=_HOT_SKU, quantity=1, location=_HOT_LOCATION),),
                channel="douyin",
                ttl=_LIVE_TTL,
            )
            for number in range(1, asked + 1)
        ]
        for start in range(0, asked, _BURST_WAVE):
            for outcome in self.inventory.reserve_many(
                requests[start : start + _BURST_WAVE], now=now
            ):
                if isinstance(outcome, InsufficientStock):
                    result.refused += 1
                else:
                    result.reserved += 1
        (level,) = self.inventory.stock(_HOT_SKU, _HOT_LOCATION)
        result.oversold = max(result.reserved - stock, 0) + max(-level.available, 0)
        return result


def _stock_messages(path: Path) -> int:
    """Pending outbox messages the inventory wrote (stream ``stock``) into the shared outbox."""
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        row = db.execute(
            "SELECT count(*) FROM ordercore_outbox WHERE stream = ? AND delivered_at IS NULL",
            (STOCK_STREAM,),
        ).fetchone()
    return int(row[0])


def _ledger_entries(inventory: Inventory) -> int:
    count, after = 0, 0
    while entries := inventory.ledger(after_seq=after, limit=5000):
        count += len(entries)
        after = entries[-1].seq
    return count


def _batch_size(orders: int) -> int:
    """About fifty batches whatever the size, so progress moves smoothly."""
    return max(1, min(200, orders // 50))


class _Inbox:
    """The demo's notifier: keeps each SLA notification (a real run would use DingTalk or WeCom)."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def notify(self, message: Notification) -> None:
        self.sent.append(message)


def _next_trigger(lifecycle: Lifecycle, order: Order, rnd: random.Random) -> str | None:
    """What happens to an order this round: a detour, the next step, or nothing."""
    state = lifecycle.state_of(order)
    for trigger, chance in _DETOURS.get(state, ()):
        if rnd.random() < chance:
            return trigger
    if rnd.random() < _WAIT:
        return None
    return _FORWARD.get(state)


def _hold_stock(
    stock: _Stock,
    holding: Sequence[tuple[Demand, bool]],
    *,
    seed: int,
    start: datetime,
    hot_stock: int,
    progress: bool,
    stream: TextIO | None,
) -> None:
    """Receive the day's stock, then reserve it for the orders that hold stock as the day starts.

    ``holding`` has the demand of each order placed and neither shipped nor
    cancelled (:data:`_HOLDING_STATES`), and whether it is unpaid. Each is
    allocated by region and its plan reserved; an unpaid order's hold was placed
    up to one :data:`_PAYMENT_WINDOW` before ``start`` and lasts that long.
    """
    rnd = random.Random(seed + 1)
    demand: Counter[tuple[str, str]] = Counter()
    for need, _ in holding:
        home = stock.home(need)
        for line in need.lines:
            demand[(home, line.sku)] += line.quantity
    stock.receive(demand, hot_stock=hot_stock)
    with Progress(
        len(holding), "orders allocated to warehouses", stream=stream, enabled=progress
    ) as bar:
        for need, unpaid in holding:
            if unpaid:
                stock.hold(need, now=start - _PAYMENT_WINDOW * rnd.random(), ttl=_PAYMENT_WINDOW)
            else:
                stock.hold(need, now=start - _PAYMENT_WINDOW)
            bar.advance()


def _run_lifecycle(
    store: SQLiteStore,
    lifecycle: Lifecycle,
    stock: _Stock,
    *,
    seed: int,
    end: datetime,
    batch_size: int,
    progress: bool,
    stream: TextIO | None,
) -> tuple[int, Counter[tuple[str, int, str]]]:
    """Move the stored orders through the lifecycle over a simulated day, then run the SLAs.

    Each round, every order either waits, takes its next step on the main line or a
    detour (cancellation, review hold, after-sale); the rounds happen
    :data:`_ROUND_GAP` apart, the last at ``end``. An unpaid order whose stock
    hold expired (``expire_due`` at the round's time) is closed on payment
    timeout instead. Transitions are written in batches with ``transition_many``
    (one transaction each, SLA timers included); then ``stock`` follows them
    (paying confirms a hold, shipping commits it, cancelling releases it). Then
    the SLA service runs at ``end`` until nothing is due.

    Returns:
        The number of transitions stored and the breaches handled.
    """
    rnd = random.Random(seed)
    actor = Actor(kind=ActorKind.RULE, id="demo-warehouse")
    total = store.count()
    transitions = 0
    moved: set[str] = set()
    start = end - _ROUND_GAP * (_ROUNDS - 1)
    with Progress(
        total * _ROUNDS, "orders moved through the lifecycle", stream=stream, enabled=progress
    ) as bar:
        for round_no in range(_ROUNDS):
            now = start + _ROUND_GAP * round_no
            timed_out = stock.expire(now)
            after = None
            while page := store.query(OrderQuery(after=after, limit=batch_size)):
                after = page[-1].sort_key()
                moves = []
                for order in page:
                    if order.id in timed_out:
                        trigger: str | None = "close_unpaid"
                    else:
                        trigger = _next_trigger(lifecycle, order, rnd)
                    if trigger is not None and lifecycle.can(order, trigger):
                        moves.append((order, trigger))
                moved.update(order.id for order, _ in moves)
                if moves:
                    transitions += len(
                        lifecycle.transition_many(
                            store, moves, actor=actor, now=now, reason="demo round"
                        )
                    )
                    for order, trigger in moves:
                        stock.follow(order, trigger, now)
                bar.advance(len(page))
    # Orders that never moved get the SLA timer of the state they were imported in,
    # counted from the start of the day.
    after = None
    while page := store.query(OrderQuery(after=after, limit=batch_size)):
        after = page[-1].sort_key()
        still = [order.evolve(status_since=start) for order in page if order.id not in moved]
        lifecycle.arm_timers(store, still, now=start)
    inbox = _Inbox()
    service = SlaService(store, lifecycle, inbox, clock=lambda: end, batch_size=500)
    breaches: Counter[tuple[str, int, str]] = Counter()
    while handled := service.run_once():
        for breach in handled:
            breaches[(breach.state, breach.level, breach.notify)] += 1
    return transitions, breaches


def run_demo(
    path: str | Path = "ordercore-demo.db",
    *,
    orders: int = 1000,
    seed: int = 2026,
    progress: bool = True,
    stream: TextIO | None = None,
) -> DemoSummary:
    """Build ``orders`` multi-channel orders, store them, move them through the lifecycle.

    The orders are stored in SQLite at ``path``, moved through the default
    lifecycle over a simulated day with their SLAs run (see :func:`_run_lifecycle`),
    then read back and summed up.

    An earlier demo database at ``path`` is replaced. Any other existing file is
    left alone.

    Args:
        path: The SQLite file to create.
        orders: How many orders to build (at least one).
        seed: The random seed of the order factory.
        progress: Whether to show progress on ``stream``.
        stream: Where progress goes; standard error by default.

    Returns:
        What was read back from the store.

    Raises:
        ConfigurationError: ``orders`` is below one, or ``path`` holds something
            the demo did not make, or cannot be created.
    """
    if orders < 1:
        raise ConfigurationError("the demo needs at least one order")
    path = Path(path)
    _create_demo_database(path)
    try:
        store = SQLiteStore(path)
    except BaseException:
        path.unlink(missing_ok=True)  # the empty file made just above
        raise
    with store:
        _mark_demo_database(path)
        factory = OrderFactory(seed=seed)
        batch_size = _batch_size(orders)
        holding: list[tuple[Demand, bool]] = []  # what the orders still to ship ask for
        with Progress(orders, "orders stored", stream=stream, enabled=progress) as bar:
            remaining = orders
            while remaining:
                batch = list(factory.orders(min(batch_size, remaining)))
                store.put_many(batch)  # the summary re-reads the store, not this result
                holding += [
                    (Demand.of_order(order), order.status is OrderStatus.PENDING_PAYMENT)
                    for order in batch
                    if order.status.value in _HOLDING_STATES
                ]
                remaining -= len(batch)
                bar.advance(len(batch))

        end = utc_now()
        start = end - _ROUND_GAP * (_ROUNDS - 1)
        received_at = start - _PAYMENT_WINDOW - timedelta(hours=1)
        url = f"sqlite:///{quote(str(path))}"
        with open_inventory(url, clock=lambda: received_at) as inventory:
            stock = _Stock(inventory)
            hot_stock = max(5, orders // 5)
            _hold_stock(
                stock,
                holding,
                seed=seed,
                start=start,
                hot_stock=hot_stock,
                progress=progress,
                stream=stream,
            )
            transitions, breaches = _run_lifecycle(
                store,
                default_lifecycle(),
                stock,
                seed=seed,
                end=end,
                batch_size=batch_size,
                progress=progress,
                stream=stream,
            )
            burst = stock.burst(hot_stock * 3, now=end)
            skus = sorted({product.sku for product in CATALOGUE} | {_HOT_SKU})
            levels = [level for sku in skus for level in inventory.stock(sku)]
            locations = inventory.locations()
            drift = inventory.verify()
            ledger_entries = _ledger_entries(inventory)
        stored = store.count()
        by_channel_status: Counter[tuple[str, str]] = Counter()
        totals: dict[str, _MoneyTotals] = defaultdict(_MoneyTotals)
        grand = _MoneyTotals()
        unbalanced: list[str] = []
        first = last = None
        read_back = 0
        after = None
        states: Counter[str] = Counter()
        events: Counter[str] = Counter()
        lifecycle = default_lifecycle()
        rule_run = _RuleRun(levels, end)
        with Progress(stored, "orders read back", stream=stream, enabled=progress) as bar:
            while page := store.query(OrderQuery(after=after, limit=batch_size)):
                for order in page:
                    read_back += 1
                    by_channel_status[(order.channel, order.status.value)] += 1
                    totals[order.channel].add(order)
                    grand.add(order)
                    if not order.amounts.balances:
                        unbalanced.append(order.id)
                    states[lifecycle.state_of(order)] += 1
                    events.update(event.type for event in store.events(order.id))
                    rule_run.evaluate(order)
                first = first or page[0]
                last = page[-1]
                after = last.sort_key()
                bar.advance(len(page))
        return DemoSummary(
            path=path,
            stored=stored,
            read_back=read_back,
            by_channel_status=by_channel_status,
            status_counts={s.value: store.count(status=s.value) for s in OrderStatus},
            totals=dict(totals),
            grand_total=grand,
            unbalanced=unbalanced,
            outbox_pending=store.outbox_pending(),
            problems=store.integrity_check(),
            first=first,
            last=last,
            states=states,
            transitions=transitions,
            events=events,
            breaches=breaches,
            open_timers=store.timer_count(),
            locations=locations,
            stock=levels,
            reservations=stock.counts,
            burst=burst,
            drift=drift,
            ledger_entries=ledger_entries,
            stock_messages=_stock_messages(path),
            decisions=rule_run.finish(),
        )


# -- the printed summary ----------------------------------------------------------------


def _count(number: int, noun: str, plural: str | None = None) -> str:
    """``1 order``, ``2 orders``, ``1,000 orders`` (``plural`` when it is not ``noun + s``)."""
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {plural or noun + 's'}"


def _table(header: list[str], rows: list[list[str]], footer: list[str]) -> list[str]:
    """Lines of a table: first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows, footer]) for i in range(len(header))]

    def render(row: list[str]) -> str:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "  ".join(cells).rstrip()

    rule = "-" * len(render(header))
    return [render(header), rule, *(render(row) for row in rows), rule, render(footer)]


def _money(value: Money) -> str:
    return f"{value.amount:,}"


def _region_label(name: str) -> str:
    """``"East China"`` for ``"east_china"``; other names as they are."""
    return Region(name).label if name in {region.value for region in Region} else name


def _stock_section(summary: DemoSummary) -> list[str]:
    """The stock per location, what became of the reservations, and the live-stream burst."""
    skus = len({level.sku for level in summary.stock})
    lines = [f"Stock per location at the end (inventory.stock(...), {_count(skus, 'SKU')})"]
    rows = []
    for location in summary.locations:
        on_hand, reserved, available = summary.stock_at(location.id)
        rows.append(
            [f"{location.id} {location.name}", f"{on_hand:,}", f"{reserved:,}", f"{available:,}"]
        )
    totals = [summary.stock_at(location.id) for location in summary.locations]
    lines += _table(
        ["location", "on hand", "reserved", "available"],
        rows,
        ["all", *(f"{sum(column):,}" for column in zip(*totals, strict=True))]
        if totals
        else ["all", "0", "0", "0"],
    )
    served = "; ".join(
        f"{location.id} {', '.join(_region_label(name) for name in location.regions_served)}"
        for location in summary.locations
    )
    counts = summary.reservations
    for note in (
        f"regions served: {served} (other regions: by priority, in that order)",
        f"orders' reservations: {counts.made:,} made, allocated by region ("
        f"{counts.own_region:,} from a warehouse of the order's region, "
        f"{counts.other_region:,} from another, {counts.split:,} split); "
        f"{counts.committed:,} committed on shipping, {counts.released:,} released on "
        f"cancellation, {counts.expired:,} expired on payment timeout, {counts.held:,} still held"
        + (f"; {_count(counts.short, 'order')} short of stock" if counts.short else ""),
        f"live-stream burst: {_count(summary.burst.asked, 'buyer')} asked for 1 "
        f"{summary.burst.sku} each at {summary.burst.location} ({summary.burst.stock:,} in "
        f"stock): {summary.burst.reserved:,} reserved, {summary.burst.refused:,} refused with "
        f"InsufficientStock, {summary.burst.oversold:,} oversold",
        f"per SKU and location: ordercore inventory show sqlite:///{quote(str(summary.path))}",
    ):
        lines += textwrap.wrap(note, width=_WIDTH, subsequent_indent="  ")
    return lines


def _rules_section(found: _Decisions) -> list[str]:
    lines = [
        f"Rules: the built-in packs ({found.ruleset}, {_count(found.rules, 'rule')}) on "
        f"{_count(found.evaluated, 'order')}; SF at {_CARRIER_RATES['SF']} delivered in 24 h"
    ]
    rule_rows = [[rule, f"{count:,}"] for rule, count in found.matched.most_common()]
    lines += _table(["rule", "orders"], rule_rows, ["orders changed", f"{found.changed:,}"])
    done = ", ".join(f"{name} {count:,}" for name, count in sorted(found.actions.items()))
    lines.append(f"actions: {done or 'none'}")
    for text in found.explained:
        lines += ["", *text.splitlines()]
    return lines


def format_summary(summary: DemoSummary) -> str:
    """Render the summary as the plain-text tables ``ordercore demo`` prints.

    Every status shown is a canonical :class:`~ordercore.schema.OrderStatus` value,
    usable as ``store.query(status=...)``.
    """
    channels = sorted(summary.totals)
    statuses = [
        s.value for s in OrderStatus if any(k[1] == s.value for k in summary.by_channel_status)
    ]
    grand = summary.grand_total
    lines = [f"ordercore demo: {_count(summary.stored, 'order')} in {summary.path}", ""]

    lines.append("Orders per status (store.query(status=...)) and channel")
    status_rows = []
    for status in statuses:
        row = [summary.by_channel_status.get((c, status), 0) for c in channels]
        status_rows.append([status, *(f"{n:,}" for n in row), f"{sum(row):,}"])
    per_channel = [summary.totals[c].orders for c in channels]
    lines += _table(
        ["status", *channels, "all"],
        status_rows,
        ["all", *(f"{n:,}" for n in per_channel), f"{sum(per_channel):,}"],
    )
    lines.append("")

    lines.append(
        f"Lifecycle: {_count(summary.transitions, 'transition')} over a simulated day, "
        "orders per state and node now"
    )
    state_rows = [[state, f"{count:,}"] for state, count in sorted(summary.states.items())]
    lines += _table(["state", "orders"], state_rows, ["all", f"{sum(summary.states.values()):,}"])
    history = ", ".join(f"{type_} {n:,}" for type_, n in sorted(summary.events.items()))
    lines.append(f"events in the orders' histories: {history or 'none'}")
    lines.append("")

    lines.append(
        f"SLA breaches: {_count(summary.breach_count, 'breach', 'breaches')} handled, "
        f"{_count(summary.open_timers, 'timer')} still running"
    )
    breach_rows = [
        [state, str(level), notify, f"{count:,}"]
        for (state, level, notify), count in sorted(summary.breaches.items())
    ]
    lines += _table(
        ["state", "level", "notified", "breaches"],
        breach_rows,
        ["all", "", "", f"{summary.breach_count:,}"],
    )
    lines.append("")
    lines += _stock_section(summary)
    lines.append("")
    lines += _rules_section(summary.decisions)
    lines.append("")

    # Columns that are zero everywhere (tax, fees, unused discount funders) are left out.
    charges: list[tuple[str, str]] = [
        (name, attr)
        for name, attr in (("tax", "tax"), ("service fee", "service_fee"), ("adjust", "adjustment"))
        if getattr(grand, attr) != Money.zero()
    ]
    funders = [f for f in DiscountFunder if grand.discounts[f] != Money.zero()]

    def money_row(name: str, t: _MoneyTotals) -> list[str]:
        return [
            name,
            f"{t.orders:,}",
            _money(t.goods),
            _money(t.shipping),
            *(_money(getattr(t, attr)) for _, attr in charges),
            *(_money(t.discounts[f]) for f in funders),
            _money(t.order_value),
            _money(t.collected),
        ]

    currency = grand.order_value.currency
    lines.append(f"Money per channel ({currency})")
    lines += _table(
        [
            "channel",
            "orders",
            "goods",
            "shipping",
            *(name for name, _ in charges),
            *(f"-{f.value}" for f in funders),
            "order value",
            "paid (collected)",
        ],
        [money_row(c, summary.totals[c]) for c in channels],
        money_row("all", grand),
    )
    charged = " + ".join(["goods", "shipping", *(name for name, _ in charges)])
    for note in (
        f"order value = {charged} - discounts (by who funds them), over "
        f"{'the' if grand.orders == 1 else 'all'} {_count(grand.orders, 'order')}, unpaid and "
        "cancelled ones included.",
        f"paid (collected) = the order value of the {_count(grand.collected_orders, 'order')} "
        "paid and not cancelled (every status but pending_payment and cancelled); after-sale "
        "refunds are not deducted.",
    ):
        lines += textwrap.wrap(note, width=_WIDTH, subsequent_indent="  ")
    lines.append("")

    channel_sum = summary.channel_sum
    for label, attr in (("order value", "order_value"), ("paid (collected)", "collected")):
        by_channels, total = getattr(channel_sum, attr), getattr(grand, attr)
        lines.append(
            f"check: per-channel {label} sums to {_money(by_channels)} and the grand total is "
            f"{_money(total)} -> {'equal' if by_channels == total else 'DIFFERENT'}"
        )
    if summary.unbalanced:
        balanced = f"no, {_count(len(summary.unbalanced), 'order')} do not add up"
    else:
        balanced = "yes"
    lines.append(f"check: the amounts of every order add up to its order value -> {balanced}")
    lines.append(
        "check: store.count(status=...) gives the counts above for every status -> "
        f"{'yes' if summary.statuses_agree else 'NO'}"
    )
    expected = summary.stored + summary.transitions + summary.breach_count
    lines.append(
        f"check: {_count(summary.outbox_pending, 'outbox message')} pending, one per order "
        f"stored, transition and breach ({expected:,}), {summary.stock_messages:,} for stock -> "
        f"{'yes' if summary.outbox_pending == expected + summary.stock_messages else 'NO'}"
    )
    if summary.drift:
        shown = "; ".join(
            f"{d.sku}@{d.location} {d.field} {d.counter:,} vs {d.ledger:,}"
            for d in summary.drift[:3]
        )
        more = f" and {len(summary.drift) - 3:,} more" if len(summary.drift) > 3 else ""
        verdict = f"NO, {_count(len(summary.drift), 'counter')} drift: {shown}{more}"
    else:
        verdict = "yes"
    lines.append(
        "check: inventory.verify(): every stock counter equals the sum of its "
        f"{_count(summary.ledger_entries, 'ledger entry', 'ledger entries')} -> {verdict}"
    )
    burst = summary.burst
    clean = burst.oversold == 0 and burst.reserved == min(burst.asked, burst.stock)
    lines.append(
        f"check: the burst reserved {burst.reserved:,} of the {burst.stock:,} in stock and "
        f"oversold {burst.oversold:,} -> {'yes' if clean else 'NO'}"
    )
    rules = summary.decisions
    kept = not rules.unbalanced_after and not rules.errors
    lines.append(
        f"check: the rules decided for {_count(rules.evaluated, 'order')} without errors, and "
        f"every order that added up still adds up after applying them -> {'yes' if kept else 'NO'}"
    )
    lines.append(
        f"check: {summary.read_back:,} of {_count(summary.stored, 'order')} read back; integrity "
        f"{'ok' if not summary.problems else '; '.join(summary.problems)}"
    )
    if summary.first is not None and summary.last is not None:
        first, last = summary.first, summary.last
        lines.append(
            f"placed from {first.created_at.utc:%Y-%m-%d %H:%M:%S} UTC ({first.channel}, sent as "
            f"{first.created_at.original!r}) to {last.created_at.utc:%Y-%m-%d %H:%M:%S} UTC "
            f"({last.channel}, sent as {last.created_at.original!r})"
        )
    lines.append(f"result: {'OK' if summary.ok else 'PROBLEMS FOUND'}")
    return "\n".join(lines)
