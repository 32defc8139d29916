"""Context providers for rules: history counters, carrier health and stock over real data.

:class:`OrderHistory` counts return / exchange cases per phone and orders per
address, phone or buyer id (D18), :class:`CarrierHealth` a carrier's delivery
success rate (D19) and :class:`InventoryStock` reads available units from an
:class:`~ordercore.inventory.Inventory`. Each implements one protocol of
:mod:`ordercore.rules._context`, so a :class:`~ordercore.rules.RuleContext` takes
them as they are::

    history = OrderHistory.from_store(store, key=secret, since=now - timedelta(days=1))
    context = RuleContext(history=history, carriers=CarrierHealth.from_store(store),
                          stock=InventoryStock(inventory))

The history keeps no personal data: every key (a phone, an address, a buyer id)
is normalised and stored only as its HMAC-SHA256 under a secret the caller
gives; a rule's plain key is hashed the same way when it is looked up. Both
counters are fed with orders, not with order events: an event names its order,
type, time and actor but carries neither the receiver's phone nor the after-sale
cases, so an event alone cannot say whose return it was.

All three are safe to share between threads.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import itertools
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from ordercore.errors import ConfigurationError
from ordercore.pii import Sensitive, looks_like_ciphertext, safe_repr
from ordercore.rules._compiler import HISTORY_COUNTERS
from ordercore.timestamps import utc_now

if TYPE_CHECKING:
    from ordercore.inventory import Inventory
    from ordercore.schema import Address, Order, Shipment
    from ordercore.storage import OrderQuery, OrderStore

__all__ = [
    "CarrierHealth",
    "InventoryStock",
    "OrderHistory",
]

#: The counters :class:`OrderHistory` keeps (the ones ``history_count`` accepts).
COUNTERS: Final = HISTORY_COUNTERS
#: The shortest HMAC secret accepted, in bytes (the SHA-256 block is 64, its output 32).
MIN_KEY_BYTES: Final = 16
DEFAULT_RETENTION: Final = timedelta(days=7)
DEFAULT_MIN_SAMPLES: Final = 10
#: Old entries are evicted whenever the newest time seen moved on by retention / this.
_EVICT_STEP: Final = 32
#: How far past the clock an entry's time may move the newest time seen (channel clocks
#: run ahead; a wrong far-future time must not evict all history).
_SKEW: Final = timedelta(days=1)
_PAGE_SIZE: Final = 1000

#: What a key may be written with that does not change what it names.
_SEPARATORS: Final = re.compile(r"[\s\-_.,，。、·•/\\()（）\[\]【】#:：;；'\"]+")
_CN_MOBILE: Final = re.compile(r"^(?:\+?86|0086)(1[3-9][0-9]{9})$")

_DELIVERED_WORDS: Final = frozenset(
    {"delivered", "signed", "sign", "received", "签收", "已签收", "妥投", "已妥投", "已送达"}
)
_FAILED_WORDS: Final = frozenset(
    {
        "failure",
        "failed",
        "fail",
        "rejected",
        "refused",
        "returned",
        "lost",
        "exception",
        "拒收",
        "退回",
        "已退回",
        "丢失",
        "异常",
        "派送失败",
        "投递失败",
    }
)


def normalise_key(value: str) -> str | None:
    """The form of a phone, address or buyer id that is hashed, or ``None`` when unusable.

    Width and case are folded and separators (spaces, hyphens, brackets, commas,
    ``#``) dropped, so ``"138 0013 8000"``, ``"+86 138-0013-8000"`` and
    ``"13800138000"`` are one key, as are ``"文一西路 8号"`` and ``"文一西路8号"``.
    Platform ciphertext is kept exactly (only trimmed). A value the platform
    masked (with ``*``) or an empty one names nobody in particular: ``None``.
    """
    text = unicodedata.normalize("NFKC", value).strip()
    if not text or "*" in text:
        return None
    if looks_like_ciphertext(text):
        return text
    text = _SEPARATORS.sub("", text.casefold())
    mobile = _CN_MOBILE.match(text)
    if mobile is not None:
        text = mobile.group(1)
    return text or None


def _secret(key: object) -> bytes:
    if isinstance(key, str):
        raise ConfigurationError(
            "the history key must be bytes (e.g. os.urandom(32) or a secret from your vault), "
            "not str"
        )
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise ConfigurationError(f"the history key must be bytes, got {type(key).__name__}")
    secret = bytes(key)
    if len(secret) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"the history key must be at least {MIN_KEY_BYTES} bytes, got {len(secret)}"
        )
    return secret


def _positive_window(name: str, value: object) -> timedelta:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ConfigurationError(f"{name} must be a positive timedelta, got {safe_repr(value)}")
    return value


def _aware(name: str, value: object) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ConfigurationError(
            f"{name} must be a timezone-aware datetime, got {safe_repr(value)}"
        )
    return value


def _text_of(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, Sensitive):
        return value.reveal()
    return str(value)


def _first(entry: tuple[datetime, str]) -> datetime:
    return entry[0]


def _in_window(
    series: list[tuple[datetime, str]], window: timedelta, now: datetime
) -> list[tuple[datetime, str]]:
    """The entries of a time-sorted series in ``(now - window, now]``."""
    low = bisect.bisect_right(series, now - window, key=_first)
    high = bisect.bisect_right(series, now, key=_first)
    return series[low:high]


def _drop_before(series: list[Any], horizon: datetime) -> None:
    """Remove the entries of a time-sorted series at or before ``horizon``."""
    cut = bisect.bisect_right(series, horizon, key=lambda entry: entry[0])
    if cut:
        del series[:cut]


def _paged(store: OrderStore, query: OrderQuery | None, page_size: int) -> Iterator[Order]:
    """Every stored order of ``query`` (all of them by default), a page at a time."""
    from ordercore.rules._versions import _paged as paged
    from ordercore.storage import OrderQuery

    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ConfigurationError(f"page_size must be at least 1, got {safe_repr(page_size)}")
    return paged(store, query if query is not None else OrderQuery(), page_size)


def _clock_of(clock: object) -> Callable[[], datetime]:
    if not callable(clock):
        raise ConfigurationError(f"clock must be a callable, got {type(clock).__name__}")
    return clock


class _Horizon:
    """The newest time seen, what is too old to keep, and when to evict next."""

    __slots__ = ("clock", "evicted_at", "newest", "retention")

    def __init__(self, retention: timedelta, clock: Callable[[], datetime]) -> None:
        self.retention = retention
        self.clock = clock
        self.newest: datetime | None = None
        self.evicted_at: datetime | None = None

    def stale(self, at: datetime) -> bool:
        """Whether ``at`` is too old to keep."""
        return self.newest is not None and at <= self.newest - self.retention

    def advance(self, at: datetime) -> bool:
        """Note a kept time; return whether an eviction is due."""
        bound = min(at, self.clock() + _SKEW)
        if self.newest is None or bound > self.newest:
            self.newest = bound
        if self.evicted_at is None:
            self.evicted_at = self.newest
            return False
        return self.newest - self.evicted_at >= self.retention / _EVICT_STEP

    def cut(self, now: datetime | None) -> datetime | None:
        """The time at or before which entries go, for an eviction now."""
        self.evicted_at = self.newest
        reference = now if now is not None else self.newest
        return None if reference is None else reference - self.retention


def _changed_at(order: Order) -> datetime:
    """When the order version last changed: the channel's time, else the store's, else receipt."""
    if order.channel_updated_at is not None:
        return order.channel_updated_at.utc
    if order.updated_at is not None:
        return order.updated_at
    return order.source.received_at


# -- history counters ------------------------------------------------------------------------


@dataclass(slots=True)
class _Seen:
    """What has been counted of one order (no personal data: ids and times only)."""

    version: int = 0
    ordered: bool = False
    cases: set[str] = field(default_factory=set)
    last: datetime | None = None


class OrderHistory:
    """Counts returns and orders per phone, address or buyer id, for ``history_count``.

    Counters:

    - ``"returns"``: return and exchange cases (``AfterSaleRef.kind`` ``return`` or
      ``exchange``; refunds without goods back and repairs are not counted), per
      phone: the receiver's and the buyer's. A case is dated by the order
      version that first shows it (its ``channel_updated_at``, else the store's
      ``updated_at``, else when it was received), or by ``observe(order, at=...)``.
    - ``"orders"``: orders, dated by their placement, per receiver phone and
      landline, buyer phone, buyer id, the full receiver address (province, city,
      district, town and street together), the street text alone
      (``order.receiver.detail``) and the platform's ``open_address_id``.

    ``history_count("returns", order.receiver.phone, 24h)`` is then the number of
    return / exchange cases of that phone in the 24 hours up to the evaluation
    time and ``history_orders(...)`` the number of different orders they are on.

    Keys are normalised by :func:`normalise_key` and stored only as their
    HMAC-SHA256 under ``key``: the same secret must be given wherever the
    counts are built and read, and a different secret gives different digests.
    Masked values (``138****8000``) are not counted: they name many people.

    Observing is idempotent: the same order version again counts nothing, an
    older version is ignored, and an updated order adds only its new cases.
    Entries older than ``retention`` before the newest one seen are evicted as
    time moves on (so memory holds about that much history, and :meth:`evict`
    drops it at once); an order unchanged for longer than
    ``retention`` is forgotten, and should it change again, the cases it then
    shows are counted as new.

    Args:
        key: The HMAC secret, at least 16 bytes.
        retention: How much history to keep; the longest window a rule may ask for.
        clock: The current time; the newest time seen is never taken to be more
            than a day past it, so a wrong far-future channel time cannot evict
            the history.

    Raises:
        ConfigurationError: the key is not bytes or is too short, the retention
            is not a positive timedelta, or the clock is not callable.

    Example:
        >>> from ordercore.testing import OrderFactory
        >>> history = OrderHistory(key=b"0123456789abcdef")
        >>> order = OrderFactory(seed=1).order()
        >>> added = history.observe(order)
        >>> phone = order.receiver.phone.reveal()
        >>> history.count("orders", phone, timedelta(hours=1), order.created_at.utc)
        1
        >>> history.count("returns", phone, timedelta(hours=1), order.created_at.utc)
        0
    """

    def __init__(
        self,
        *,
        key: bytes,
        retention: timedelta = DEFAULT_RETENTION,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._key = _secret(key)
        self.retention = _positive_window("retention", retention)
        self._horizon = _Horizon(self.retention, _clock_of(clock))
        self._lock = threading.Lock()
        self._series: dict[str, dict[bytes, list[tuple[datetime, str]]]] = {
            name: {} for name in COUNTERS
        }
        self._seen: dict[str, _Seen] = {}
        self._evict_due = False

    def __repr__(self) -> str:
        return f"OrderHistory(keys={self.keys}, entries={self.entries}, retention={self.retention})"

    def __reduce__(self) -> Any:
        raise TypeError("an OrderHistory holds its HMAC secret and cannot be pickled")

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def from_store(
        cls,
        store: OrderStore,
        *,
        key: bytes,
        since: datetime | None = None,
        retention: timedelta = DEFAULT_RETENTION,
        clock: Callable[[], datetime] = utc_now,
        query: OrderQuery | None = None,
        page_size: int = _PAGE_SIZE,
    ) -> OrderHistory:
        """Build the counts from a store's orders (as stored now, their latest versions).

        Args:
            store: Any :class:`~ordercore.storage.OrderStore`.
            key: The HMAC secret.
            since: Count only what happened at or after this instant (aware).
            retention: As for :class:`OrderHistory`.
            clock: As for :class:`OrderHistory`.
            query: Which orders to read (default every order; e.g.
                ``OrderQuery(created_from=since - timedelta(days=30))`` to skip
                orders placed too long ago to get a return now).
            page_size: Orders read per query.
        """
        history = cls(key=key, retention=retention, clock=clock)
        history.load(store, since=since, query=query, page_size=page_size)
        return history

    def load(
        self,
        store: OrderStore,
        *,
        since: datetime | None = None,
        query: OrderQuery | None = None,
        page_size: int = _PAGE_SIZE,
    ) -> int:
        """Observe every order of ``query`` in ``store``; return how many entries were added."""
        floor = None if since is None else _aware("since", since)
        return sum(self._observe(order, None, floor) for order in _paged(store, query, page_size))

    def observe(self, order: Order, *, at: datetime | None = None) -> int:
        """Count what ``order`` adds; return how many entries that was (0: nothing new).

        Args:
            order: An order, stored or not.
            at: When its new after-sale cases happened, if known better than the
                order's own change time.
        """
        if at is not None:
            _aware("at", at)
        return self._observe(order, at, None)

    def observe_many(self, orders: Iterable[Order]) -> int:
        """Observe each order; return how many entries were added."""
        return sum(self._observe(order, None, None) for order in orders)

    def _digest(self, text: str) -> bytes | None:
        normal = normalise_key(text)
        if normal is None:
            return None
        return hmac.new(self._key, normal.encode("utf-8"), hashlib.sha256).digest()

    def _digests(self, values: Iterable[object]) -> set[bytes]:
        found = set()
        for value in values:
            text = _text_of(value)
            if text:
                digest = self._digest(text)
                if digest is not None:
                    found.add(digest)
        return found

    def _phones(self, order: Order) -> set[bytes]:
        receiver = order.receiver
        return self._digests((receiver.phone if receiver else None, order.buyer.phone))

    def _order_keys(self, order: Order) -> set[bytes]:
        receiver = order.receiver
        values: list[object] = [order.buyer.phone, order.buyer.channel_buyer_id]
        if receiver is not None:
            values += [
                receiver.phone,
                receiver.landline,
                receiver.detail,
                receiver.open_address_id,
                _full_address(receiver),
            ]
        return self._digests(values)

    def _observe(self, order: Order, at: datetime | None, floor: datetime | None) -> int:
        with self._lock:
            seen = self._seen.get(order.id)
            if seen is not None and order.version and order.version <= seen.version:
                return 0
            new = seen is None
            if seen is None:
                seen = _Seen()
            added = 0
            times: list[datetime] = []
            if not seen.ordered:
                seen.ordered = True
                placed = order.created_at.utc
                times.append(placed)
                added += self._add("orders", self._order_keys(order), placed, order.id, floor)
            fresh = [
                case.channel_after_sale_id
                for case in order.after_sales
                if case.kind.value in ("return", "exchange")
                and case.channel_after_sale_id not in seen.cases
            ]
            case_time = at if at is not None else _changed_at(order)
            times.append(case_time)
            if fresh:
                seen.cases.update(fresh)
                phones = self._phones(order)
                for _ in fresh:
                    added += self._add("returns", phones, case_time, order.id, floor)
            seen.version = max(seen.version, order.version)
            latest = max(times)
            seen.last = latest if seen.last is None else max(seen.last, latest)
            if new:
                self._seen[order.id] = seen
            if self._evict_due:
                self._evict(None)
            return added

    def _add(
        self,
        counter: str,
        digests: set[bytes],
        at: datetime,
        order_id: str,
        floor: datetime | None,
    ) -> int:
        if not digests or (floor is not None and at < floor) or self._horizon.stale(at):
            return 0
        series = self._series[counter]
        for digest in digests:
            bisect.insort(series.setdefault(digest, []), (at, order_id))
        if self._horizon.advance(at):
            self._evict_due = True
        return len(digests)

    # -- memory ------------------------------------------------------------------------------

    def evict(self, now: datetime | None = None) -> int:
        """Drop entries older than ``retention`` before ``now`` (default: the newest entry).

        Returns:
            How many entries were dropped.
        """
        if now is not None:
            _aware("now", now)
        with self._lock:
            return self._evict(now)

    def _evict(self, now: datetime | None) -> int:
        self._evict_due = False
        horizon = self._horizon.cut(now)
        if horizon is None:
            return 0
        before = self._entries()
        for series in self._series.values():
            for digest in [d for d, entries in series.items() if entries[-1][0] <= horizon]:
                del series[digest]
            for entries in series.values():
                _drop_before(entries, horizon)
        for order_id in [
            o for o, seen in self._seen.items() if seen.last is not None and seen.last <= horizon
        ]:
            del self._seen[order_id]
        return before - self._entries()

    def _entries(self) -> int:
        return sum(len(entries) for series in self._series.values() for entries in series.values())

    @property
    def entries(self) -> int:
        """How many dated entries are kept over all counters and keys."""
        with self._lock:
            return self._entries()

    @property
    def keys(self) -> int:
        """How many different key digests are kept over all counters."""
        with self._lock:
            return sum(len(series) for series in self._series.values())

    def digest(self, key: str) -> bytes | None:
        """The digest ``key`` is stored under (``None``: a key that is never counted)."""
        if not isinstance(key, str):
            raise ConfigurationError(f"a history key is a str, got {type(key).__name__}")
        return self._digest(key)

    # -- HistoryCounters ---------------------------------------------------------------------

    def _window(
        self, counter: str, key: str, window: timedelta, now: datetime
    ) -> list[tuple[datetime, str]]:
        if counter not in COUNTERS:
            raise ConfigurationError(
                f"unknown history counter {safe_repr(counter)}; one of: {', '.join(COUNTERS)}"
            )
        _positive_window("the window", window)
        if window > self.retention:
            raise ConfigurationError(
                f"the window {window} is longer than the history kept ({self.retention}); "
                "give OrderHistory a longer retention"
            )
        _aware("now", now)
        if not isinstance(key, str):
            raise ConfigurationError(f"a history key is a str, got {type(key).__name__}")
        digest = self._digest(key)
        if digest is None:
            return []
        with self._lock:
            series = self._series[counter].get(digest)
            return [] if series is None else _in_window(series, window, now)

    def count(self, counter: str, key: str, window: timedelta, now: datetime) -> int:
        """How many ``counter`` entries ``key`` had in ``(now - window, now]``.

        Raises:
            ConfigurationError: an unknown counter, a window that is not positive
                or is longer than the retention, or a naive ``now``.
        """
        return len(self._window(counter, key, window, now))

    def distinct_orders(self, counter: str, key: str, window: timedelta, now: datetime) -> int:
        """How many different orders the entries of :meth:`count` belong to."""
        return len({order_id for _, order_id in self._window(counter, key, window, now)})


def _full_address(address: Address) -> str | None:
    if address.detail is None:
        return None
    parts = (address.province, address.city, address.district, address.town)
    return "".join(part for part in parts if part) + address.detail.reveal()


# -- carrier health --------------------------------------------------------------------------


@dataclass(slots=True)
class _Parcel:
    carrier: str
    delivered: bool | None
    at: datetime
    shipped_at: datetime | None
    #: Where the parcel sits in its carrier's series (None: not there, pending).
    indexed: datetime | None = None


def _carrier_name(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    name = unicodedata.normalize("NFKC", value).strip().casefold()
    return name or None


class CarrierHealth:
    """Delivery success rates per carrier from shipment outcomes, for ``carrier_success``.

    The success rate of a window is ``delivered / (delivered + failed)`` over the
    outcomes dated in ``(now - window, now]``, a :class:`~decimal.Decimal`; with
    fewer than ``min_samples`` outcomes it is ``None`` (unknown, not healthy or
    sick). Carrier names compare without case or surrounding spaces.

    Feed it with :meth:`record` (one outcome per call, from a tracking feed) or
    :meth:`observe` (the shipments of an order, with :meth:`from_store` for a
    store's orders). A parcel recorded again under the same ``parcel`` id
    replaces its earlier outcome, so observing an order again is idempotent and
    a parcel in transit that is later delivered counts once.

    Args:
        min_samples: The fewest outcomes a rate is given for (at least 1).
        retention: How much history to keep; the longest window a rule may ask for.
        overdue: When given, a parcel still in transit this long after it was
            shipped counts as failed from then on.
        clock: The current time (as for :class:`OrderHistory`).

    Raises:
        ConfigurationError: a bad ``min_samples``, ``retention`` or ``overdue``.
    """

    def __init__(
        self,
        *,
        min_samples: int = DEFAULT_MIN_SAMPLES,
        retention: timedelta = DEFAULT_RETENTION,
        overdue: timedelta | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
            raise ConfigurationError(
                f"min_samples must be a whole number of at least 1, got {safe_repr(min_samples)}"
            )
        self.min_samples = min_samples
        self.retention = _positive_window("retention", retention)
        self.overdue = None if overdue is None else _positive_window("overdue", overdue)
        self._lock = threading.Lock()
        self._parcels: dict[tuple[str, str], _Parcel] = {}
        self._series: dict[str, list[tuple[datetime, str]]] = {}
        self._anonymous = itertools.count(1)
        self._horizon = _Horizon(self.retention, _clock_of(clock))

    def __repr__(self) -> str:
        return (
            f"CarrierHealth(carriers={len(self._series)}, parcels={len(self._parcels)}, "
            f"min_samples={self.min_samples})"
        )

    @classmethod
    def from_store(
        cls,
        store: OrderStore,
        *,
        min_samples: int = DEFAULT_MIN_SAMPLES,
        retention: timedelta = DEFAULT_RETENTION,
        overdue: timedelta | None = None,
        clock: Callable[[], datetime] = utc_now,
        query: OrderQuery | None = None,
        page_size: int = _PAGE_SIZE,
    ) -> CarrierHealth:
        """Build the rates from the shipments of a store's orders (``query``: which ones)."""
        health = cls(min_samples=min_samples, retention=retention, overdue=overdue, clock=clock)
        for order in _paged(store, query, page_size):
            health.observe(order)
        return health

    def record(
        self,
        carrier: str,
        shipped_at: datetime | None,
        delivered: bool | None,
        at: datetime,
        *,
        parcel: str | None = None,
    ) -> None:
        """Record one parcel's outcome.

        Args:
            carrier: The carrier's code or name, as rules name it.
            shipped_at: When the parcel was handed over (aware), if known.
            delivered: ``True`` delivered, ``False`` failed (refused, returned,
                lost), ``None`` still in transit.
            at: When the outcome happened (aware): the time windows look at.
            parcel: The parcel's id (tracking number); a later record with the
                same id replaces this one. Without it every record is a new parcel.

        Raises:
            ConfigurationError: an empty carrier, naive times or a ``delivered``
                that is not true, false or None.
        """
        name = _carrier_name(carrier)
        if name is None:
            raise ConfigurationError(f"a carrier is a non-empty str, got {safe_repr(carrier)}")
        if delivered is not None and not isinstance(delivered, bool):
            raise ConfigurationError(
                f"delivered must be True, False or None, got {safe_repr(delivered)}"
            )
        _aware("at", at)
        if shipped_at is not None:
            _aware("shipped_at", shipped_at)
        if parcel is not None and (not isinstance(parcel, str) or not parcel):
            raise ConfigurationError(f"a parcel id is a non-empty str, got {safe_repr(parcel)}")
        with self._lock:
            parcel_id = parcel if parcel is not None else f"\0{next(self._anonymous)}"
            self._record(name, parcel_id, shipped_at, delivered, at)

    def _record(
        self,
        name: str,
        parcel_id: str,
        shipped_at: datetime | None,
        delivered: bool | None,
        at: datetime,
    ) -> None:
        when: datetime | None = at
        if delivered is None:
            overdue = self.overdue
            when = shipped_at + overdue if overdue is not None and shipped_at is not None else None
        keep = when if when is not None else at
        if self._horizon.stale(keep):
            return
        key = (name, parcel_id)
        old = self._parcels.pop(key, None)
        if old is not None and old.indexed is not None:
            series = self._series[name]
            index = bisect.bisect_left(series, (old.indexed, parcel_id))
            if index < len(series) and series[index] == (old.indexed, parcel_id):
                del series[index]
        entry = _Parcel(name, delivered, at, shipped_at, when)
        self._parcels[key] = entry
        if when is not None:
            bisect.insort(self._series.setdefault(name, []), (when, parcel_id))
        if self._horizon.advance(keep):
            self._evict(None)

    def observe(self, order: Order) -> int:
        """Record the outcome of each of ``order``'s shipments; return how many were recorded.

        A shipment whose ``status`` says delivered (``delivered``, ``signed``,
        ``已签收``...) or failed (``failure``, ``rejected``, ``returned``,
        ``拒收``...) counts so; one with no telling status counts as delivered when
        the order was (``delivered_at`` set, or status ``delivered`` /
        ``completed``), else as in transit. A delivery is dated by the order's
        ``delivered_at``, a failure by the order's change time. The shipment is
        recorded under its carrier code and its carrier name, as the parcel of
        its tracking number (the ``parcel`` of :meth:`record`, so a tracking feed
        and observed orders update the same parcel).
        """
        recorded = 0
        for shipment in order.shipments:
            names = {
                name
                for name in map(_carrier_name, (shipment.carrier_code, shipment.carrier_name))
                if name is not None
            }
            if not names:
                continue
            delivered = _outcome(order, shipment)
            if delivered and order.delivered_at is not None:
                at = order.delivered_at.utc
            else:
                at = _changed_at(order)
            shipped = shipment.shipped_at or order.shipped_at
            shipped_at = None if shipped is None else shipped.utc
            parcel = shipment.tracking_no or f"{order.id}/{shipment.shipment_id}"
            with self._lock:
                for name in sorted(names):
                    self._record(name, parcel, shipped_at, delivered, at)
            recorded += 1
        return recorded

    def evict(self, now: datetime | None = None) -> int:
        """Drop outcomes older than ``retention`` before ``now`` (default: the newest seen)."""
        if now is not None:
            _aware("now", now)
        with self._lock:
            return self._evict(now)

    def _evict(self, now: datetime | None) -> int:
        horizon = self._horizon.cut(now)
        if horizon is None:
            return 0
        old = [
            key
            for key, parcel in self._parcels.items()
            if (parcel.indexed if parcel.indexed is not None else parcel.at) <= horizon
        ]
        for key in old:
            del self._parcels[key]
        for name in list(self._series):
            _drop_before(self._series[name], horizon)
            if not self._series[name]:
                del self._series[name]
        return len(old)

    def outcomes(self, carrier: str, window: timedelta, now: datetime) -> tuple[int, int]:
        """``(delivered, failed)`` of ``carrier`` in ``(now - window, now]``.

        Raises:
            ConfigurationError: a window that is not positive or longer than the
                retention, or a naive ``now``.
        """
        _positive_window("the window", window)
        if window > self.retention:
            raise ConfigurationError(
                f"the window {window} is longer than the history kept ({self.retention}); "
                "give CarrierHealth a longer retention"
            )
        _aware("now", now)
        name = _carrier_name(carrier)
        if name is None:
            return (0, 0)
        delivered = failed = 0
        with self._lock:
            series = self._series.get(name)
            if series is None:
                return (0, 0)
            for _, parcel_id in _in_window(series, window, now):
                if self._parcels[(name, parcel_id)].delivered:
                    delivered += 1
                else:
                    failed += 1  # failed, or overdue in transit
        return (delivered, failed)

    def success_rate(self, carrier: str, window: timedelta, now: datetime) -> Decimal | None:
        """The share of ``carrier``'s outcomes in the window that were deliveries, or ``None``.

        ``None`` when there are fewer than ``min_samples`` outcomes in the window.
        """
        delivered, failed = self.outcomes(carrier, window, now)
        total = delivered + failed
        if total < self.min_samples:
            return None
        return Decimal(delivered) / Decimal(total)


def _outcome(order: Order, shipment: Shipment) -> bool | None:
    status = _carrier_name(shipment.status)
    if status in _DELIVERED_WORDS:
        return True
    if status in _FAILED_WORDS:
        return False
    if order.delivered_at is not None or order.status.value in ("delivered", "completed"):
        return True
    return None


# -- stock -----------------------------------------------------------------------------------


class InventoryStock:
    """Available units from an :class:`~ordercore.inventory.Inventory`, for ``stock(...)``.

    ``available(sku)`` sums the units that can be reserved over every location
    (``on_hand - reserved - in_transfer``, none below zero), ``available(sku,
    location)`` gives one location's. A SKU the inventory has never held, or a
    location it does not have, gives ``None``; a known SKU with no stock at a
    known location gives 0. With ``channel`` the channel's quota caps the units.

    ``ordercore.inventory`` is imported only when :meth:`open` is called: the
    rules package does not need it.

    Args:
        inventory: The inventory to read (anything with its ``stock``,
            ``available`` and ``locations`` methods).
        channel: Read availability as this sales channel sees it (quotas).

    Raises:
        ConfigurationError: ``inventory`` is not an inventory.
    """

    def __init__(self, inventory: Inventory, *, channel: str | None = None) -> None:
        for method in ("stock", "available", "locations"):
            if not callable(getattr(inventory, method, None)):
                raise ConfigurationError(
                    f"InventoryStock needs an ordercore.inventory.Inventory, "
                    f"got {type(inventory).__name__} (no {method}() method)"
                )
        if channel is not None and (not isinstance(channel, str) or not channel):
            raise ConfigurationError(f"a channel is a non-empty str, got {safe_repr(channel)}")
        self.inventory = inventory
        self.channel = channel

    def __repr__(self) -> str:
        return f"InventoryStock({self.inventory.url!r}, channel={self.channel!r})"

    @classmethod
    def open(cls, url: str, *, channel: str | None = None, **options: Any) -> InventoryStock:
        """Open the inventory at ``url`` (see :func:`ordercore.inventory.open_inventory`)."""
        from ordercore.inventory import open_inventory

        return cls(open_inventory(url, **options), channel=channel)

    def available(self, sku: str, location: str | None = None) -> int | None:
        """Units of ``sku`` available to reserve (at ``location``, or everywhere), or ``None``."""
        if not isinstance(sku, str) or not sku:
            return None
        levels = self.inventory.stock(sku)
        if not levels:
            return None
        if location is not None:
            if not isinstance(location, str) or not any(
                known.id == location for known in self.inventory.locations()
            ):
                return None
            levels = [level for level in levels if level.location == location]
        if self.channel is not None:
            return self.inventory.available(sku, location=location, channel=self.channel)
        return sum(max(level.available, 0) for level in levels)
