"""The demo: a realistic multi-channel batch, stored in SQLite, read back and summed up.

``ordercore demo`` runs :func:`run_demo`. It shows, end to end on the embedded
default, what the library does with orders from seven channels plus POS: one
canonical shape, exact money, times normalised across zones, a store with an
outbox, and totals that add up.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ordercore.errors import ConfigurationError
from ordercore.money import Money
from ordercore.progress import Progress
from ordercore.schema import DiscountFunder, Order, OrderStatus
from ordercore.storage import OrderQuery, SQLiteStore
from ordercore.testing import OrderFactory

__all__ = ["DemoSummary", "run_demo"]

_BATCH = 500


@dataclass
class _Totals:
    orders: int = 0
    goods: Money = field(default_factory=Money.zero)
    shipping: Money = field(default_factory=Money.zero)
    platform: Money = field(default_factory=Money.zero)
    seller: Money = field(default_factory=Money.zero)
    coupon: Money = field(default_factory=Money.zero)
    paid: Money = field(default_factory=Money.zero)

    def add(self, order: Order) -> None:
        amounts = order.amounts
        self.orders += 1
        self.goods += amounts.goods
        self.shipping += amounts.shipping
        self.platform += amounts.discount_by(DiscountFunder.PLATFORM)
        self.seller += amounts.discount_by(DiscountFunder.SELLER)
        self.coupon += amounts.discount_by(DiscountFunder.COUPON)
        self.paid += amounts.paid

    def merge(self, other: _Totals) -> None:
        self.orders += other.orders
        self.goods += other.goods
        self.shipping += other.shipping
        self.platform += other.platform
        self.seller += other.seller
        self.coupon += other.coupon
        self.paid += other.paid

    @property
    def balances(self) -> bool:
        discounts = self.platform + self.seller + self.coupon
        return self.goods + self.shipping - discounts == self.paid


@dataclass
class DemoSummary:
    """What the demo found when it read the orders back.

    Attributes:
        path: The SQLite file.
        stored: Orders written.
        read_back: Orders read back by paging through the store.
        by_channel_status: Order counts per (channel, canonical status).
        totals: Money per channel.
        grand_total: Money over all channels, summed from the orders themselves.
        unbalanced: Orders whose amounts do not add up (should be none).
        outbox_pending: Outbox messages written with the orders.
        problems: Integrity-check findings (should be none).
        first, last: The earliest and latest order by placement time (UTC).
    """

    path: Path
    stored: int
    read_back: int
    by_channel_status: Counter[tuple[str, str]]
    totals: dict[str, _Totals]
    grand_total: _Totals
    unbalanced: list[str]
    outbox_pending: int
    problems: list[str]
    first: Order | None
    last: Order | None

    @property
    def ok(self) -> bool:
        """Every order came back, every amount adds up, the store is intact."""
        channel_sum = _Totals()
        for totals in self.totals.values():
            channel_sum.merge(totals)
        return (
            self.read_back == self.stored
            and not self.unbalanced
            and not self.problems
            and self.outbox_pending == self.stored
            and channel_sum == self.grand_total
            and self.grand_total.balances
        )


def _prepare_path(path: Path) -> None:
    """Remove an earlier demo database at ``path``; refuse to touch any other file."""
    if not path.exists():
        return
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            db.execute("SELECT 1 FROM ordercore_schema LIMIT 1")
    except sqlite3.Error:
        raise ConfigurationError(
            f"{path} exists and is not an ordercore database; pass another --db path"
        ) from None
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def run_demo(
    path: str | Path = "ordercore-demo.db",
    *,
    orders: int = 1000,
    seed: int = 2026,
    progress: bool = True,
    stream: TextIO | None = None,
) -> DemoSummary:
    """Build ``orders`` multi-channel orders, store them in SQLite at ``path``, read them back.

    An earlier demo database at ``path`` is replaced; any other existing file is
    left alone and reported as a :class:`~ordercore.errors.ConfigurationError`.
    """
    if orders < 1:
        raise ConfigurationError("the demo needs at least one order")
    path = Path(path)
    _prepare_path(path)
    factory = OrderFactory(seed=seed)
    with SQLiteStore(path) as store:
        with Progress(orders, "orders stored", stream=stream, enabled=progress) as bar:
            remaining = orders
            while remaining:
                batch = list(factory.orders(min(_BATCH, remaining)))
                store.put_many(batch)
                remaining -= len(batch)
                bar.advance(len(batch))

        by_channel_status: Counter[tuple[str, str]] = Counter()
        totals: dict[str, _Totals] = defaultdict(_Totals)
        grand = _Totals()
        unbalanced: list[str] = []
        first = last = None
        read_back = 0
        after = None
        with Progress(orders, "orders read back", stream=stream, enabled=progress) as bar:
            while page := store.query(OrderQuery(after=after, limit=_BATCH)):
                for order in page:
                    read_back += 1
                    by_channel_status[(order.channel, order.status.value)] += 1
                    totals[order.channel].add(order)
                    grand.add(order)
                    if not order.amounts.balances:
                        unbalanced.append(order.id)
                first = first or page[0]
                last = page[-1]
                after = last.sort_key()
                bar.advance(len(page))
        return DemoSummary(
            path=path,
            stored=store.count(),
            read_back=read_back,
            by_channel_status=by_channel_status,
            totals=dict(totals),
            grand_total=grand,
            unbalanced=unbalanced,
            outbox_pending=store.outbox_pending(),
            problems=store.integrity_check(),
            first=first,
            last=last,
        )


_STATUS_ORDER = [status.value for status in OrderStatus]


def format_summary(summary: DemoSummary) -> str:
    """Render the summary as the plain-text tables ``ordercore demo`` prints."""
    channels = sorted(summary.totals)
    statuses = [s for s in _STATUS_ORDER if any(k[1] == s for k in summary.by_channel_status)]
    short = {
        s: s.replace("pending_payment", "unpaid").replace("under_review", "review")
        for s in statuses
    }
    lines = [f"ordercore demo: {summary.stored} orders in {summary.path}", ""]
    lines.append("Orders per channel and status")
    header = f"{'channel':<16}" + "".join(f"{short[s]:>11}" for s in statuses) + f"{'total':>8}"
    lines.append(header)
    lines.append("-" * len(header))
    for channel in channels:
        row = [summary.by_channel_status.get((channel, s), 0) for s in statuses]
        lines.append(f"{channel:<16}" + "".join(f"{n:>11}" for n in row) + f"{sum(row):>8}")
    column_totals = [
        sum(summary.by_channel_status.get((c, s), 0) for c in channels) for s in statuses
    ]
    lines.append("-" * len(header))
    lines.append(
        f"{'all':<16}" + "".join(f"{n:>11}" for n in column_totals) + f"{sum(column_totals):>8}"
    )
    lines.append("")
    lines.append("Money per channel (CNY): goods + shipping - discounts = paid")
    money_header = (
        f"{'channel':<16}{'goods':>14}{'shipping':>11}{'platform':>11}"
        f"{'seller':>11}{'coupon':>9}{'paid':>14}"
    )
    lines.append(money_header)
    lines.append("-" * len(money_header))

    def money_row(name: str, t: _Totals) -> str:
        return (
            f"{name:<16}{t.goods.amount:>14,}{t.shipping.amount:>11,}{t.platform.amount:>11,}"
            f"{t.seller.amount:>11,}{t.coupon.amount:>9,}{t.paid.amount:>14,}"
        )

    for channel in channels:
        lines.append(money_row(channel, summary.totals[channel]))
    lines.append("-" * len(money_header))
    lines.append(money_row("all", summary.grand_total))
    lines.append("")
    channel_paid = sum((summary.totals[c].paid for c in channels), Money.zero())
    lines.append(
        f"check: per-channel paid sums to {channel_paid.amount:,} and the grand total is "
        f"{summary.grand_total.paid.amount:,} -> "
        f"{'equal' if channel_paid == summary.grand_total.paid else 'DIFFERENT'}"
    )
    lines.append(
        f"check: goods + shipping - discounts = paid for every order -> "
        f"{'yes' if not summary.unbalanced else f'{len(summary.unbalanced)} orders do not add up'}"
    )
    lines.append(
        f"check: {summary.read_back} of {summary.stored} orders read back; "
        f"{summary.outbox_pending} outbox messages pending; integrity "
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
