"""Allocation (D16, D22): which locations an order's stock is reserved at, and why.

An allocation turns an order (or a list of :class:`~ordercore.inventory.ReservationLine`)
into an :class:`AllocationPlan`: each line assigned to a location, every location
that was looked at with the reason it was chosen or skipped, and what could not be
covered. :meth:`AllocationPlan.to_requests` turns the plan into one
:class:`~ordercore.inventory.ReservationRequest` whose lines carry their location,
so :meth:`Inventory.reserve <ordercore.inventory.Inventory.reserve>` reserves the
whole plan in one transaction, or none of it.

The default :class:`RegionPriorityStrategy` works like this:

1. Rank the locations: those that serve the receiver's region (East China ->
   a Hangzhou warehouse whose ``region`` or ``regions_served`` names East China or
   Zhejiang) first, then by ``priority`` (lower first), then by id.
2. The first location in that order that covers the whole order alone gets it.
3. Otherwise the order is split across as few locations as a greedy set cover
   finds: each step adds the location that covers the most of what is still
   uncovered (ties go to the better-ranked location); locations that turn out
   to add nothing are dropped again at the end.
4. A bundle (lines sharing a ``bundle`` id: the components of one order line) is
   never split: all its components go to one location, or the bundle is not
   covered at all and appears in the shortfall.

Lines that already carry a ``location`` are kept there. A plan is computed from
the stock seen when it was made; another order may take that stock before the
plan is reserved, in which case ``reserve`` raises
:class:`~ordercore.errors.InsufficientStock` and nothing is reserved: allocate again.

Strategies are pluggable: anything with ``plan(demand, stock, locations)`` is an
:class:`AllocationStrategy`; pass it to :func:`allocate`, or publish it in the
entry-point group ``ordercore.allocation`` and pass its name.

Example:
    >>> from ordercore.inventory._allocation import StockTable, allocate
    >>> from ordercore.inventory._model import Location, ReservationLine
    >>> stock = StockTable(
    ...     {"HZ": {"MUG-1": 5}, "GZ": {"MUG-1": 9}},
    ...     locations=[Location(id="HZ", region="east_china", priority=50),
    ...                Location(id="GZ", region="south_china", priority=10)],
    ... )
    >>> plan = allocate(stock, [ReservationLine(sku="MUG-1", quantity=2)], province="浙江省")
    >>> plan.complete, plan.locations
    (True, ('HZ',))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from enum import StrEnum
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import attrs

from ordercore.errors import (
    ConfigurationError,
    InsufficientStock,
    PluginLoadError,
    PluginNotFound,
    UnknownLocation,
)
from ordercore.inventory._model import (
    BackorderPolicy,
    GiftPolicy,
    Location,
    ReservationLine,
    ReservationRequest,
)

if TYPE_CHECKING:
    from ordercore.schema import Address, Order

__all__ = [
    "ALLOCATION_GROUP",
    "AllocationPlan",
    "AllocationStrategy",
    "Assignment",
    "Demand",
    "Destination",
    "LocationDecision",
    "PriorityStrategy",
    "Region",
    "RegionPriorityStrategy",
    "SingleLocationStrategy",
    "StockTable",
    "StockView",
    "allocate",
    "load_strategy",
    "province_of",
    "region_of",
    "serves",
]

#: The entry-point group allocation strategies are published in.
ALLOCATION_GROUP: Final = "ordercore.allocation"


# -- regions ------------------------------------------------------------------------------


class Region(StrEnum):
    """The geographic regions of China that routing speaks of (华东, 华南, ...)."""

    EAST_CHINA = "east_china"
    SOUTH_CHINA = "south_china"
    NORTH_CHINA = "north_china"
    CENTRAL_CHINA = "central_china"
    NORTHEAST_CHINA = "northeast_china"
    SOUTHWEST_CHINA = "southwest_china"
    NORTHWEST_CHINA = "northwest_china"
    HONG_KONG_MACAO_TAIWAN = "hk_macao_taiwan"

    @property
    def label(self) -> str:
        """The English name (``"East China"``)."""
        return _REGION_LABELS[self][0]

    @property
    def chinese(self) -> str:
        """The Chinese name (``"华东"``)."""
        return _REGION_LABELS[self][1]

    def provinces(self) -> tuple[str, ...]:
        """The provinces (short Chinese names) in the region, in code order."""
        return tuple(p.short for p in _PROVINCES if p.region is self)


_REGION_LABELS: Final[Mapping[Region, tuple[str, str]]] = {
    Region.EAST_CHINA: ("East China", "华东"),
    Region.SOUTH_CHINA: ("South China", "华南"),
    Region.NORTH_CHINA: ("North China", "华北"),
    Region.CENTRAL_CHINA: ("Central China", "华中"),
    Region.NORTHEAST_CHINA: ("Northeast China", "东北"),
    Region.SOUTHWEST_CHINA: ("Southwest China", "西南"),
    Region.NORTHWEST_CHINA: ("Northwest China", "西北"),
    Region.HONG_KONG_MACAO_TAIWAN: ("Hong Kong, Macao and Taiwan", "港澳台"),
}


@attrs.frozen
class _Province:
    short: str
    official: str
    code: str
    region: Region
    other_names: tuple[str, ...]


_E, _S, _N, _C = (
    Region.EAST_CHINA,
    Region.SOUTH_CHINA,
    Region.NORTH_CHINA,
    Region.CENTRAL_CHINA,
)
_NE, _SW, _NW, _HMT = (
    Region.NORTHEAST_CHINA,
    Region.SOUTHWEST_CHINA,
    Region.NORTHWEST_CHINA,
    Region.HONG_KONG_MACAO_TAIWAN,
)

#: Provinces, municipalities, autonomous regions and SARs (GB/T 2260 codes).
_PROVINCES: Final = (
    _Province("北京", "北京市", "11", _N, ("beijing",)),
    _Province("天津", "天津市", "12", _N, ("tianjin",)),
    _Province("河北", "河北省", "13", _N, ("hebei",)),
    _Province("山西", "山西省", "14", _N, ("shanxi",)),
    _Province("内蒙古", "内蒙古自治区", "15", _N, ("内蒙", "inner mongolia", "nei mongol")),
    _Province("辽宁", "辽宁省", "21", _NE, ("liaoning",)),
    _Province("吉林", "吉林省", "22", _NE, ("jilin",)),
    _Province("黑龙江", "黑龙江省", "23", _NE, ("heilongjiang",)),
    _Province("上海", "上海市", "31", _E, ("shanghai",)),
    _Province("江苏", "江苏省", "32", _E, ("jiangsu",)),
    _Province("浙江", "浙江省", "33", _E, ("zhejiang",)),
    _Province("安徽", "安徽省", "34", _E, ("anhui",)),
    _Province("福建", "福建省", "35", _E, ("fujian",)),
    _Province("江西", "江西省", "36", _E, ("jiangxi",)),
    _Province("山东", "山东省", "37", _E, ("shandong",)),
    _Province("河南", "河南省", "41", _C, ("henan",)),
    _Province("湖北", "湖北省", "42", _C, ("hubei",)),
    _Province("湖南", "湖南省", "43", _C, ("hunan",)),
    _Province("广东", "广东省", "44", _S, ("guangdong",)),
    _Province("广西", "广西壮族自治区", "45", _S, ("广西自治区", "guangxi")),
    _Province("海南", "海南省", "46", _S, ("hainan",)),
    _Province("重庆", "重庆市", "50", _SW, ("chongqing",)),
    _Province("四川", "四川省", "51", _SW, ("sichuan",)),
    _Province("贵州", "贵州省", "52", _SW, ("guizhou",)),
    _Province("云南", "云南省", "53", _SW, ("yunnan",)),
    _Province("西藏", "西藏自治区", "54", _SW, ("xizang", "tibet")),
    _Province("陕西", "陕西省", "61", _NW, ("shaanxi",)),
    _Province("甘肃", "甘肃省", "62", _NW, ("gansu",)),
    _Province("青海", "青海省", "63", _NW, ("qinghai",)),
    _Province("宁夏", "宁夏回族自治区", "64", _NW, ("宁夏自治区", "ningxia")),
    _Province("新疆", "新疆维吾尔自治区", "65", _NW, ("新疆自治区", "xinjiang")),
    _Province("台湾", "台湾省", "71", _HMT, ("台灣", "臺灣", "taiwan")),
    _Province("香港", "香港特别行政区", "81", _HMT, ("香港特區", "hong kong", "hongkong")),
    _Province("澳门", "澳门特别行政区", "82", _HMT, ("澳門", "澳門特區", "macao", "macau")),
)


def _key(text: str) -> str:
    return "".join(text.split()).casefold()


_PROVINCE_NAMES: Final[Mapping[str, _Province]] = {
    _key(name): province
    for province in _PROVINCES
    for name in (province.short, province.official, *province.other_names)
}
_PROVINCE_CODES: Final[Mapping[str, _Province]] = {p.code: p for p in _PROVINCES}
#: Short names, longest first, for addresses that run province and city together.
_PROVINCE_PREFIXES: Final = sorted(_PROVINCES, key=lambda p: -len(p.short))

_REGION_NAMES: Final[Mapping[str, Region]] = {
    _key(name): region
    for region in Region
    for name in (
        region.value,
        region.label,
        region.chinese,
        f"{region.chinese}地区",
        region.value.replace("_", " "),
        region.value.replace("_", "-"),
        region.value.removesuffix("_china"),
    )
}


def _province(text: str | None) -> _Province | None:
    if text is None or not text.strip():
        return None
    key = _key(text)
    found = _PROVINCE_NAMES.get(key)
    if found is not None:
        return found
    if key.isdigit() and len(key) >= 2:  # a GB/T 2260 code: "33" or "330000"
        return _PROVINCE_CODES.get(key[:2])
    for province in _PROVINCE_PREFIXES:  # "浙江省杭州市", "上海市浦东新区"
        if key.startswith(province.short):
            return province
    return None


def province_of(text: str | None) -> str | None:
    """Return the province's short Chinese name for how a channel spells it, or ``None``.

    Accepts the official name (``"浙江省"``, ``"广西壮族自治区"``), the short name
    (``"浙江"``), pinyin (``"Zhejiang"``), a GB/T 2260 code (``"33"``, ``"330000"``)
    and an address that starts with the province (``"浙江省杭州市"``).

    Example:
        >>> province_of("浙江省"), province_of("上海市"), province_of("广西壮族自治区")
        ('浙江', '上海', '广西')
        >>> province_of("Atlantis") is None
        True
    """
    found = _province(text)
    return None if found is None else found.short


def region_of(text: str | None) -> str | None:
    """Return the region a name stands for: a region's name or a province's region.

    Region names are matched in English, Chinese or as :class:`Region` values
    (``"East China"``, ``"华东"``, ``"east_china"``); a province (any spelling
    :func:`province_of` reads) stands for its region. Any other text is returned
    case-folded, so in-house zone names (``"zone-3"``) still match each other.

    Example:
        >>> region_of("浙江省"), region_of("华南"), region_of("East China")
        ('east_china', 'south_china', 'east_china')
    """
    if text is None or not text.strip():
        return None
    region = _REGION_NAMES.get(_key(text))
    if region is not None:
        return region.value
    province = _province(text)
    if province is not None:
        return province.region.value
    return _key(text)


# -- demand -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Destination:
    """Where an order goes, as far as routing cares.

    Attributes:
        province: The province's short Chinese name (``"浙江"``), or the text as
            sent when it is not a province ordercore knows; ``None`` when unknown.
        region: The region (a :class:`Region` value, or an in-house zone name).
        city: The city as sent, for explanations.
    """

    province: str | None = None
    region: str | None = None
    city: str | None = None

    @classmethod
    def of_address(cls, address: Address | None) -> Destination:
        """Read the destination from a receiver address (province, else province code)."""
        if address is None:
            return cls()
        text = address.province
        found = _province(text) or _province(address.province_code)
        if found is not None:
            return cls(province=found.short, region=found.region.value, city=address.city)
        return cls(province=text, region=region_of(text), city=address.city)

    @classmethod
    def of(cls, province: str | None = None, *, region: str | None = None) -> Destination:
        """Build a destination from a province (any spelling) and/or a region name."""
        found = _province(province)
        if found is not None:
            return cls(province=found.short, region=region_of(region) or found.region.value)
        return cls(province=province, region=region_of(region) or region_of(province))

    def describe(self) -> str:
        """``"浙江 杭州 (east_china)"``; ``"an unknown destination"`` when nothing is known."""
        place = " ".join(part for part in (self.province, self.city) if part)
        if self.region and place:
            return f"{place} ({self.region})"
        return place or self.region or "an unknown destination"


def _line_tuple(lines: Iterable[ReservationLine]) -> tuple[ReservationLine, ...]:
    return tuple(lines)


@attrs.frozen(kw_only=True)
class Demand:
    """What an allocation has to place: reservation lines and where they go.

    Attributes:
        lines: The lines, in order. Lines with the same ``bundle`` id are the
            components of one bundle and go to one location together; a line
            with a ``location`` stays there.
        destination: Where the order ships.
        channel: The sales channel (its quota applies to what it can see).
        order_id: The order, for explanations.
        tags: The order's tags, for strategies that route by them (``urgent``).
    """

    lines: tuple[ReservationLine, ...] = attrs.field(converter=_line_tuple)
    destination: Destination = Destination()
    channel: str | None = None
    order_id: str | None = None
    tags: tuple[str, ...] = ()

    def __attrs_post_init__(self) -> None:
        if not self.lines:
            raise ConfigurationError("an allocation needs at least one line")
        pinned: dict[str, str | None] = {}
        for line in self.lines:
            if line.quantity <= 0:
                raise ConfigurationError(
                    f"line for SKU {line.sku!r} has quantity {line.quantity}; it must be > 0"
                )
            if line.bundle is None:
                continue
            if line.bundle in pinned and pinned[line.bundle] != line.location:
                raise ConfigurationError(
                    f"bundle {line.bundle!r} has lines pinned to different locations "
                    f"({pinned[line.bundle]!r} and {line.location!r}); a bundle is never split"
                )
            pinned[line.bundle] = line.location

    @classmethod
    def of_order(cls, order: Order) -> Demand:
        """The demand of a canonical order.

        A line with ``components`` (a bundle) becomes one line per component, with
        ``quantity`` = component quantity x line quantity and ``bundle`` = the
        line id; gift lines stay gifts. The destination is the receiver's province.
        """
        lines: list[ReservationLine] = []
        for line in order.lines:
            if line.components:
                lines.extend(
                    ReservationLine(
                        sku=component.sku,
                        quantity=component.quantity * line.quantity,
                        gift=line.is_gift,
                        bundle=line.line_id,
                    )
                    for component in line.components
                )
            else:
                lines.append(
                    ReservationLine(sku=line.sku, quantity=line.quantity, gift=line.is_gift)
                )
        return cls(
            lines=tuple(lines),
            destination=Destination.of_address(order.receiver),
            channel=order.channel,
            order_id=order.id,
            tags=order.tags,
        )

    @property
    def units(self) -> int:
        """All units asked for."""
        return sum(line.quantity for line in self.lines)

    def skus(self) -> tuple[str, ...]:
        """The SKUs asked for, sorted."""
        return tuple(sorted({line.sku for line in self.lines}))


# -- stock views --------------------------------------------------------------------------


@runtime_checkable
class StockView(Protocol):
    """What allocation reads: available units per SKU and location, and the locations.

    :class:`~ordercore.inventory.Inventory` is one; :class:`StockTable` is one made
    from a plain mapping.
    """

    def available(self, sku: str, *, location: str, channel: str | None = None) -> int:
        """Units of ``sku`` that ``channel`` can reserve at ``location`` now."""
        ...

    def locations(self) -> Sequence[Location]:
        """Every location stock may be allocated from."""
        ...


class StockTable:
    """A :class:`StockView` over a mapping ``{location id: {sku: available units}}``.

    Args:
        stock: Available units by location and SKU (missing means 0).
        locations: The locations; by default one plain warehouse per key of
            ``stock``, in sorted order.

    Raises:
        ConfigurationError: a quantity is negative or not an integer.
        UnknownLocation: ``stock`` names a location not in ``locations``.
    """

    def __init__(
        self,
        stock: Mapping[str, Mapping[str, int]],
        *,
        locations: Iterable[Location] | None = None,
    ) -> None:
        self._locations = (
            tuple(locations)
            if locations is not None
            else tuple(Location(id=name) for name in sorted(stock))
        )
        known = {location.id for location in self._locations}
        self._stock: dict[str, dict[str, int]] = {}
        for name, levels in stock.items():
            if name not in known:
                raise UnknownLocation(
                    f"stock is given for location {name!r}, which is not among the locations "
                    f"({', '.join(sorted(known)) or 'none'})",
                    location=name,
                )
            for sku, units in levels.items():
                if isinstance(units, bool) or not isinstance(units, int) or units < 0:
                    raise ConfigurationError(
                        f"available units of {sku!r} at {name!r} must be an integer >= 0, "
                        f"got {units!r}"
                    )
            self._stock[name] = dict(levels)

    def available(self, sku: str, *, location: str, channel: str | None = None) -> int:
        """Units of ``sku`` at ``location`` (``channel`` is ignored: a table has no quotas)."""
        return self._stock.get(location, {}).get(sku, 0)

    def locations(self) -> Sequence[Location]:
        """The table's locations."""
        return self._locations


# -- plans --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Assignment:
    """Part (or all) of one demand line, assigned to one location.

    Attributes:
        line: The index of the line in :attr:`Demand.lines`.
        sku: The line's SKU.
        quantity: Units of the line taken from ``location``.
        location: The location id.
        gift: Whether the line is a gift line.
        bundle: The line's bundle id, if it is a component of one.
    """

    line: int
    sku: str
    quantity: int
    location: str
    gift: bool = False
    bundle: str | None = None

    def reservation_line(self) -> ReservationLine:
        """The assignment as a reservation line that names its location."""
        return ReservationLine(
            sku=self.sku,
            quantity=self.quantity,
            location=self.location,
            gift=self.gift,
            bundle=self.bundle,
        )


@attrs.frozen(kw_only=True)
class LocationDecision:
    """One location an allocation looked at, and what it decided.

    Attributes:
        location: The location.
        chosen: Whether any of the order is assigned to it.
        reason: Why, in words (``"chosen: covers the whole order"``).
        serves_destination: Whether it serves the destination's region or province.
        units: Units assigned to it.
    """

    location: Location
    chosen: bool
    reason: str
    serves_destination: bool = False
    units: int = 0


@attrs.frozen(kw_only=True)
class AllocationPlan:
    """Which location each line's stock is taken from, and why.

    Attributes:
        demand: What was allocated.
        strategy: The name of the strategy that made the plan.
        assignments: Lines (or parts of lines) and their locations, in line order.
        considered: Every location looked at, best-ranked first, chosen or not,
            with the reason.
        shortfall: Units per SKU that no location could cover (empty when complete).
        unassigned: The demand not covered, as lines (what a backorder would wait for).
        notes: Plan-wide remarks (how bundles were kept whole).
    """

    demand: Demand
    strategy: str
    assignments: tuple[Assignment, ...]
    considered: tuple[LocationDecision, ...]
    shortfall: Mapping[str, int] = attrs.field(factory=dict)
    unassigned: tuple[ReservationLine, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Whether every unit of the demand is assigned."""
        return not self.shortfall

    @property
    def locations(self) -> tuple[str, ...]:
        """The chosen locations, best-ranked first."""
        return tuple(d.location.id for d in self.considered if d.chosen)

    def lines(self) -> tuple[ReservationLine, ...]:
        """The assignments as reservation lines that name their location."""
        return tuple(a.reservation_line() for a in self.assignments)

    def units_at(self, location: str) -> dict[str, int]:
        """Units per SKU assigned to ``location``."""
        totals: dict[str, int] = {}
        for a in self.assignments:
            if a.location == location:
                totals[a.sku] = totals.get(a.sku, 0) + a.quantity
        return totals

    def to_requests(
        self,
        reservation_id: str,
        *,
        channel: str | None = None,
        ttl: timedelta | None = None,
        gift_policy: GiftPolicy = GiftPolicy.FAIL,
        backorder: BackorderPolicy = BackorderPolicy.NONE,
    ) -> ReservationRequest:
        """The plan as one reservation request, every line naming its location.

        Reserving it with ``Inventory.reserve`` reserves the whole plan in one
        transaction or nothing. When the plan is incomplete, what it could not
        cover is added at the best-ranked chosen location (or the line's own) so
        the inventory applies the request's policies to it: ``gift_policy=DROP``
        drops short gift lines, ``backorder=WAIT`` or ``SHIP_PARTIAL`` queues
        the rest.

        Args:
            reservation_id: The reservation's id (the order id, typically).
            channel: The channel whose quota applies; the demand's channel by default.
            ttl: How long the reservation holds before it expires.
            gift_policy: What to do with gift lines that cannot be reserved.
            backorder: What to do with lines that cannot be reserved.

        Raises:
            InsufficientStock: the plan is incomplete and neither policy takes the
                shortfall (``location`` is ``None``: across all locations).
            ConfigurationError: the shortfall would be queued but there is no
                location to queue it at.
        """
        lines = list(self.lines())
        if self.unassigned:
            absorbs_all = backorder is not BackorderPolicy.NONE
            for line in self.unassigned:
                if not (absorbs_all or (line.gift and gift_policy is GiftPolicy.DROP)):
                    covered = sum(a.quantity for a in self.assignments if a.sku == line.sku)
                    short = self.shortfall.get(line.sku, line.quantity)
                    raise InsufficientStock(
                        f"cannot reserve the plan for {self._subject()}: SKU {line.sku!r} is "
                        f"{short} units short across {self._considered_ids()} "
                        f"(requested {covered + short}, available {covered})",
                        sku=line.sku,
                        location=None,
                        requested=covered + short,
                        available=covered,
                        channel=channel or self.demand.channel,
                    )
            fallback = self.locations[0] if self.locations else None
            if fallback is None and self.considered:
                fallback = self.considered[0].location.id
            for line in self.unassigned:
                where = line.location or fallback
                if where is None:
                    raise ConfigurationError(
                        f"cannot queue SKU {line.sku!r} for {self._subject()}: "
                        "there is no location to wait at"
                    )
                lines.append(attrs.evolve(line, location=where))
        return ReservationRequest(
            reservation_id=reservation_id,
            lines=tuple(lines),
            channel=channel or self.demand.channel,
            ttl=ttl,
            gift_policy=gift_policy,
            backorder=backorder,
        )

    def explain(self) -> str:
        """Say what the plan does and why, one location per line, in words."""
        demand = self.demand
        status = "complete" if self.complete else "INCOMPLETE"
        chosen = self.locations
        where = f"{len(chosen)} location{'s' if len(chosen) != 1 else ''}"
        if chosen:
            where += f" ({', '.join(chosen)})"
        out = [
            f"Allocation of {self._subject()} ({len(demand.lines)} lines, {demand.units} units) "
            f"to {demand.destination.describe()} by {self.strategy}: {status}, {where}.",
            "Locations considered, best first:",
        ]
        if not self.considered:
            out.append("  (none)")
        for rank, decision in enumerate(self.considered, 1):
            loc = decision.location
            out.append(
                f"  {rank}. {loc.id} [{_describe_location(loc, decision.serves_destination)}]"
                f" {decision.reason}"
            )
        out.append("Assignments:")
        for a in self.assignments:
            extra = "".join(
                (", gift" if a.gift else "", f", bundle {a.bundle}" if a.bundle else "")
            )
            out.append(f"  line {a.line + 1}: {a.sku} x{a.quantity} -> {a.location}{extra}")
        if not self.assignments:
            out.append("  (none)")
        if self.shortfall:
            out.append(
                "Shortfall: "
                + ", ".join(f"{sku} x{units}" for sku, units in sorted(self.shortfall.items()))
            )
        else:
            out.append("Shortfall: none")
        out.extend(f"Note: {note}" for note in self.notes)
        return "\n".join(out)

    def _subject(self) -> str:
        return f"order {self.demand.order_id}" if self.demand.order_id else "the demand"

    def _considered_ids(self) -> str:
        return ", ".join(d.location.id for d in self.considered) or "no locations"


def _describe_location(location: Location, serves: bool) -> str:
    parts = [str(location.kind)]
    if location.name:
        parts.append(location.name)
    if serves:
        parts.append("serves the destination")
    elif location.region:
        parts.append(f"in {location.region}")
    parts.append(f"priority {location.priority}")
    return ", ".join(parts)


# -- strategies ---------------------------------------------------------------------------


@runtime_checkable
class AllocationStrategy(Protocol):
    """Chooses locations for a demand. Publish one in the ``ordercore.allocation`` group."""

    def plan(
        self, demand: Demand, stock: StockView, locations: Sequence[Location]
    ) -> AllocationPlan:
        """Return the plan for ``demand`` over ``locations``, reading ``stock``."""
        ...


def serves(location: Location, destination: Destination) -> bool:
    """Whether ``location`` serves ``destination``.

    It does when the destination's region is the location's own ``region`` (a
    province there stands for its region), or when ``regions_served`` names the
    destination's region or its province (a province there serves that province only).
    """
    if destination.region is None and destination.province is None:
        return False
    regions = {region_of(location.region)} if location.region else set()
    provinces: set[str] = set()
    for entry in location.regions_served:
        found = _province(entry) if _key(entry) not in _REGION_NAMES else None
        if found is not None:
            provinces.add(found.short)
        else:
            regions.add(region_of(entry))
    return (destination.region is not None and destination.region in regions) or (
        destination.province is not None and destination.province in provinces
    )


@attrs.frozen
class _Bundle:
    name: str
    lines: tuple[int, ...]
    need: Mapping[str, int]
    pinned: str | None

    @property
    def units(self) -> int:
        return sum(self.need.values())


@attrs.frozen
class _Fill:
    """An assignment of the demand to a set of locations: what it covers."""

    placed: Mapping[str, str | None]  # bundle -> location
    loose: Mapping[tuple[str, str | None, str], int]  # (sku, pin, location) -> units
    covered: int


class _Problem:
    """The demand against a stock snapshot, with the search that fills a location set."""

    #: Bundle placements tried per fill before falling back to first fit.
    budget: Final = 20_000

    def __init__(self, demand: Demand, stock: Mapping[tuple[str, str], int]) -> None:
        self.demand = demand
        self.stock = stock
        bundles: dict[str, list[int]] = {}
        self.loose: dict[tuple[str, str | None], int] = {}  # (sku, pinned location) -> units
        for index, line in enumerate(demand.lines):
            if line.bundle is not None:
                bundles.setdefault(line.bundle, []).append(index)
            else:
                key = (line.sku, line.location)
                self.loose[key] = self.loose.get(key, 0) + line.quantity
        self.bundles: list[_Bundle] = []
        for name, indexes in bundles.items():
            need: dict[str, int] = {}
            for i in indexes:
                sku = demand.lines[i].sku
                need[sku] = need.get(sku, 0) + demand.lines[i].quantity
            self.bundles.append(
                _Bundle(name, tuple(indexes), need, demand.lines[indexes[0]].location)
            )
        self.total = demand.units
        self.pinned = frozenset(line.location for line in demand.lines if line.location is not None)

    def fill(self, selected: Sequence[str]) -> _Fill:
        """Cover as much as possible with ``selected`` (in preference order)."""
        remaining = {key: units for key, units in self.stock.items() if key[1] in selected}
        loose: dict[tuple[str, str | None, str], int] = {}
        covered = 0
        for (sku, pin), need in sorted(
            self.loose.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
        ):
            if pin is None or pin not in selected:
                continue
            take = min(need, remaining.get((sku, pin), 0))
            if take:
                loose[(sku, pin, pin)] = take
                remaining[(sku, pin)] -= take
                covered += take
        placed, bundle_units = self._place_bundles(selected, remaining)
        for bundle in self.bundles:
            where = placed[bundle.name]
            if where is not None:
                for sku, units in bundle.need.items():
                    remaining[(sku, where)] -= units
        covered += bundle_units
        for (sku, pin), need in sorted(self.loose.items(), key=lambda kv: kv[0][0]):
            if pin is not None:
                continue
            for where in selected:
                if not need:
                    break
                take = min(need, remaining.get((sku, where), 0))
                if take:
                    loose[(sku, None, where)] = take
                    remaining[(sku, where)] -= take
                    need -= take
                    covered += take
        return _Fill(placed, loose, covered)

    def _loose_cover(
        self, selected: Sequence[str], remaining: Mapping[tuple[str, str], int]
    ) -> int:
        covered = 0
        for (sku, pin), need in self.loose.items():
            if pin is None:
                covered += min(need, sum(remaining.get((sku, w), 0) for w in selected))
        return covered

    def _place_bundles(
        self, selected: Sequence[str], remaining: dict[tuple[str, str], int]
    ) -> tuple[dict[str, str | None], int]:
        """Place bundles to cover the most units overall (loose lines counted too)."""
        if not self.bundles:
            return {}, 0
        best: list[Any] = [-1, None]  # covered, placement
        # Nothing can beat every bundle placed with the loose lines as well off as before.
        ceiling = sum(b.units for b in self.bundles) + self._loose_cover(selected, remaining)
        tries = 0
        choice: list[str | None] = []

        def options(bundle: _Bundle) -> list[str | None]:
            where = [bundle.pinned] if bundle.pinned is not None else list(selected)
            fits: list[str | None] = [
                w
                for w in where
                if w in selected
                and all(remaining.get((sku, w), 0) >= n for sku, n in bundle.need.items())
            ]
            return [*fits, None]

        def walk(i: int, units: int) -> None:
            nonlocal tries
            if i == len(self.bundles):
                tries += 1
                total = units + self._loose_cover(selected, remaining)
                if total > best[0]:
                    best[0], best[1] = total, list(choice)
                return
            bundle = self.bundles[i]
            for where in options(bundle):
                if best[1] is not None and (tries >= self.budget or best[0] >= ceiling):
                    return
                if where is not None:
                    for sku, n in bundle.need.items():
                        remaining[(sku, where)] -= n
                choice.append(where)
                walk(i + 1, units + (bundle.units if where is not None else 0))
                choice.pop()
                if where is not None:
                    for sku, n in bundle.need.items():
                        remaining[(sku, where)] += n

        walk(0, 0)
        placement: list[str | None] = best[1]
        units = sum(b.units for b, w in zip(self.bundles, placement, strict=True) if w is not None)
        return {b.name: w for b, w in zip(self.bundles, placement, strict=True)}, units


@attrs.define
class RegionPriorityStrategy:
    """The default: region-serving locations first, then priority; one location if it can.

    Attributes:
        by_region: Rank the locations that serve the destination first.
        split: Split an order across locations when no single one covers it
            (the fewest locations a greedy set cover finds); without it, only a
            single location that covers the whole order is chosen, else the
            best-covering one and the rest is shortfall.
    """

    name: str = "region_priority"
    by_region: bool = True
    split: bool = True

    def rank(self, demand: Demand, locations: Sequence[Location]) -> list[Location]:
        """The locations in the order they are preferred."""
        return sorted(
            locations,
            key=lambda loc: (
                0 if self.by_region and serves(loc, demand.destination) else 1,
                loc.priority,
                loc.id,
            ),
        )

    def plan(
        self, demand: Demand, stock: StockView, locations: Sequence[Location]
    ) -> AllocationPlan:
        """Allocate ``demand`` over ``locations`` (see the module's description)."""
        ids = [loc.id for loc in locations]
        if len(set(ids)) != len(ids):
            raise ConfigurationError(f"locations are listed more than once: {sorted(ids)}")
        for pin in sorted({line.location for line in demand.lines if line.location}):
            if pin not in ids:
                raise UnknownLocation(
                    f"a line is pinned to location {pin!r}, which is not among the locations "
                    f"allocated from ({', '.join(ids) or 'none'})",
                    location=pin,
                )
        ranked = self.rank(demand, locations)
        snapshot = {
            (sku, loc.id): max(0, stock.available(sku, location=loc.id, channel=demand.channel))
            for sku in demand.skus()
            for loc in ranked
        }
        problem = _Problem(demand, snapshot)
        order = [loc.id for loc in ranked]
        forced = [loc for loc in order if loc in problem.pinned]

        single: str | None = None
        if not forced or len(forced) == 1:
            for loc in forced or order:
                if problem.fill([loc]).covered == problem.total:
                    single = loc
                    break
        if single is not None:
            selected = [single]
        elif self.split:
            selected = self._greedy(problem, order, forced)
        else:
            selected = list(forced) or self._best_single(problem, order)
        fill = problem.fill(selected)
        return _build_plan(self.name, demand, ranked, problem, fill, single, self.by_region)

    def _best_single(self, problem: _Problem, order: list[str]) -> list[str]:
        best, best_covered = [], 0
        for loc in order:
            covered = problem.fill([loc]).covered
            if covered > best_covered:
                best, best_covered = [loc], covered
        return best

    def _greedy(self, problem: _Problem, order: list[str], forced: list[str]) -> list[str]:
        def ranked(chosen: Iterable[str]) -> list[str]:
            chosen = set(chosen)
            return [loc for loc in order if loc in chosen]

        selected = ranked(forced)
        covered = problem.fill(selected).covered if selected else 0
        while covered < problem.total:
            best_loc, best_covered = None, covered
            for loc in order:
                if loc in selected:
                    continue
                gain = problem.fill(ranked([*selected, loc])).covered
                if gain > best_covered:
                    best_loc, best_covered = loc, gain
            if best_loc is None:
                break
            selected, covered = ranked([*selected, best_loc]), best_covered
        if covered < problem.total:
            everything = problem.fill(order).covered
            if everything > covered:  # greedy stalled on a bundle: start from all of them
                selected, covered = list(order), everything
        for loc in reversed(list(selected)):  # drop what the others make redundant
            if loc in forced:
                continue
            rest = [w for w in selected if w != loc]
            if problem.fill(rest).covered >= covered:
                selected = rest
        return selected


@attrs.define
class PriorityStrategy(RegionPriorityStrategy):
    """Like :class:`RegionPriorityStrategy` but ranks by priority alone, ignoring regions."""

    name: str = "priority"
    by_region: bool = False


@attrs.define
class SingleLocationStrategy(RegionPriorityStrategy):
    """Never split: one location covers the whole order, or the best one covers what it can."""

    name: str = "single_location"
    split: bool = False


def _build_plan(
    strategy: str,
    demand: Demand,
    ranked: list[Location],
    problem: _Problem,
    fill: _Fill,
    single: str | None,
    by_region: bool,
) -> AllocationPlan:
    # Assignments per line, in line order.
    assignments: list[Assignment] = []
    unassigned: list[ReservationLine] = []
    pools: dict[tuple[str, str | None], list[tuple[str, int]]] = {}
    for (sku, pin, where), units in fill.loose.items():
        pools.setdefault((sku, pin), []).append((where, units))
    rank_of = {loc.id: i for i, loc in enumerate(ranked)}
    for pool in pools.values():
        pool.sort(key=lambda wu: rank_of[wu[0]])
    for index, line in enumerate(demand.lines):
        if line.bundle is not None:
            placed_at = fill.placed.get(line.bundle)
            if placed_at is None:
                unassigned.append(line)
            else:
                assignments.append(_assignment(index, line, line.quantity, placed_at))
            continue
        need = line.quantity
        pool = pools.get((line.sku, line.location), [])
        while need and pool:
            where, units = pool[0]
            take = min(need, units)
            assignments.append(_assignment(index, line, take, where))
            need -= take
            if take == units:
                pool.pop(0)
            else:
                pool[0] = (where, units - take)
        if need:
            unassigned.append(attrs.evolve(line, quantity=need))
    shortfall: dict[str, int] = {}
    for line in unassigned:
        shortfall[line.sku] = shortfall.get(line.sku, 0) + line.quantity

    chosen_units: dict[str, int] = {}
    chosen_skus: dict[str, dict[str, int]] = {}
    for a in assignments:
        chosen_units[a.location] = chosen_units.get(a.location, 0) + a.quantity
        skus = chosen_skus.setdefault(a.location, {})
        skus[a.sku] = skus.get(a.sku, 0) + a.quantity
    chosen_ids = [loc.id for loc in ranked if loc.id in chosen_units]

    decisions: list[LocationDecision] = []
    for loc in ranked:
        near = by_region and serves(loc, demand.destination)
        units = chosen_units.get(loc.id, 0)
        holds = sum(
            min(problem.stock[(sku, loc.id)], _demanded(demand, sku)) for sku in demand.skus()
        )
        why: str
        if units:
            if single == loc.id:
                why = f"chosen: covers the whole order ({units} units)"
            else:
                taken = ", ".join(f"{s} x{n}" for s, n in sorted(chosen_skus[loc.id].items()))
                why = f"chosen: takes {units} of {demand.units} units ({taken})"
                if loc.id in problem.pinned:
                    why += "; lines are pinned to it"
            if near:
                why += "; serves the destination"
        elif holds == 0:
            why = "skipped: holds none of the order's SKUs"
        elif single is not None:
            covers_all = problem.fill([loc.id]).covered == problem.total
            if covers_all:
                why = f"skipped: could cover the whole order too, but {single} ranks higher"
            else:
                why = (
                    f"skipped: could cover only {problem.fill([loc.id]).covered} of "
                    f"{demand.units} units; {single} covers the whole order"
                )
        elif chosen_ids and not unassigned:
            why = f"skipped: not needed; {', '.join(chosen_ids)} cover the order"
        else:
            why = "skipped: adds nothing the chosen locations do not already cover"
        for bundle in problem.bundles:
            if fill.placed.get(bundle.name) == loc.id:
                continue
            lacks = [
                f"{sku} (needs {n}, has {problem.stock[(sku, loc.id)]})"
                for sku, n in sorted(bundle.need.items())
                if problem.stock[(sku, loc.id)] < n
            ]
            if lacks and len(lacks) < len(bundle.need):
                why += f"; cannot take bundle {bundle.name} whole: lacks {', '.join(lacks)}"
        decisions.append(
            LocationDecision(
                location=loc,
                chosen=bool(units),
                reason=why,
                serves_destination=serves(loc, demand.destination),
                units=units,
            )
        )

    notes: list[str] = []
    for bundle in problem.bundles:
        parts = ", ".join(f"{sku} x{n}" for sku, n in sorted(bundle.need.items()))
        kept_at = fill.placed.get(bundle.name)
        if kept_at is not None:
            notes.append(f"bundle {bundle.name} ({parts}) kept whole at {kept_at}")
        else:
            holders = [
                loc.id
                for loc in ranked
                if all(problem.stock[(sku, loc.id)] >= n for sku, n in bundle.need.items())
            ]
            cause = (
                "no location holds all its components"
                if not holders
                else f"the stock at {', '.join(holders)} is needed for other lines"
            )
            notes.append(f"bundle {bundle.name} ({parts}) not covered: {cause}; it is never split")
    return AllocationPlan(
        demand=demand,
        strategy=strategy,
        assignments=tuple(assignments),
        considered=tuple(decisions),
        shortfall=shortfall,
        unassigned=tuple(unassigned),
        notes=tuple(notes),
    )


def _demanded(demand: Demand, sku: str) -> int:
    return sum(line.quantity for line in demand.lines if line.sku == sku)


def _assignment(index: int, line: ReservationLine, quantity: int, where: str) -> Assignment:
    return Assignment(
        line=index,
        sku=line.sku,
        quantity=quantity,
        location=where,
        gift=line.gift,
        bundle=line.bundle,
    )


# -- entry points and allocate() ----------------------------------------------------------

_BUILTINS: Final[Mapping[str, type[RegionPriorityStrategy]]] = {
    "region_priority": RegionPriorityStrategy,
    "priority": PriorityStrategy,
    "single_location": SingleLocationStrategy,
}


def load_strategy(name: str) -> AllocationStrategy:
    """Return a new instance of the strategy published as ``name`` in ``ordercore.allocation``.

    The built-ins are ``region_priority`` (the default), ``priority`` and
    ``single_location``. An entry point may name a class (instantiated without
    arguments) or a ready instance.

    Raises:
        PluginNotFound: nothing is published under ``name``.
        PluginLoadError: it failed to import or has no ``plan`` method.
    """
    from ordercore import plugins

    if ALLOCATION_GROUP in plugins.GROUPS:
        obj: Any = plugins.load(ALLOCATION_GROUP, name)
    elif name in _BUILTINS:
        obj = _BUILTINS[name]
    else:
        found = [
            ep
            for ep in entry_points(group=ALLOCATION_GROUP)
            if ep.name == name
            and (ep.dist is None or ep.dist.name.replace("_", "-").lower() != "ordercore-oms")
        ]
        if not found:
            known = ", ".join(
                sorted({*_BUILTINS, *(e.name for e in entry_points(group=ALLOCATION_GROUP))})
            )
            raise PluginNotFound(
                f"no {ALLOCATION_GROUP} strategy named {name!r} is installed (installed: {known})",
                group=ALLOCATION_GROUP,
                plugin=name,
            )
        try:
            obj = found[0].load()
        except Exception as exc:
            raise PluginLoadError(
                f"strategy {ALLOCATION_GROUP}:{name} failed to load: {type(exc).__name__}: {exc}",
                group=ALLOCATION_GROUP,
                plugin=name,
            ) from exc
    strategy = obj() if isinstance(obj, type) else obj
    if not isinstance(strategy, AllocationStrategy):
        raise PluginLoadError(
            f"strategy {ALLOCATION_GROUP}:{name} has no plan(demand, stock, locations) method",
            group=ALLOCATION_GROUP,
            plugin=name,
        )
    return strategy


def allocate(
    inventory_or_stock_view: StockView | Mapping[str, Mapping[str, int]],
    order_or_lines: Order | Demand | Iterable[ReservationLine],
    *,
    strategy: AllocationStrategy | str | None = None,
    locations: Iterable[Location | str] | None = None,
    province: str | None = None,
    region: str | None = None,
    channel: str | None = None,
) -> AllocationPlan:
    """Plan where an order's stock comes from.

    Args:
        inventory_or_stock_view: An ``Inventory``, any :class:`StockView`, or a
            mapping ``{location id: {sku: available}}`` (read as a :class:`StockTable`).
        order_or_lines: A canonical order (its receiver's province routes it), a
            :class:`Demand`, or reservation lines.
        strategy: A strategy, the name of one in ``ordercore.allocation``, or
            ``None`` for :class:`RegionPriorityStrategy`.
        locations: Allocate only from these (locations or their ids); all of the
            view's locations by default.
        province: For lines: the receiver's province (any spelling).
        region: For lines: the destination region, when there is no province.
        channel: For lines: the channel whose quota applies.

    Raises:
        UnknownLocation: ``locations`` names an id the view does not know, or a
            line is pinned to a location not allocated from.
        ConfigurationError: no lines, or a bundle pinned to two locations.
        PluginNotFound: ``strategy`` names no installed strategy.
    """
    wanted = list(locations) if locations is not None else None
    if isinstance(inventory_or_stock_view, StockView):
        view: StockView = inventory_or_stock_view
    else:
        given = [loc for loc in wanted or () if not isinstance(loc, str)]
        view = StockTable(inventory_or_stock_view, locations=given or None)
    known = list(view.locations())
    if wanted is None:
        chosen = known
    else:
        by_id = {loc.id: loc for loc in known}
        chosen = []
        for loc in wanted:
            name = loc if isinstance(loc, str) else loc.id
            if name not in by_id:
                raise UnknownLocation(
                    f"location {name!r} is not known to the stock view "
                    f"({', '.join(sorted(by_id)) or 'none'})",
                    location=name,
                )
            chosen.append(by_id[name])
    demand = _demand(order_or_lines, province=province, region=region, channel=channel)
    if strategy is None:
        chosen_strategy: AllocationStrategy = RegionPriorityStrategy()
    elif isinstance(strategy, str):
        chosen_strategy = load_strategy(strategy)
    else:
        chosen_strategy = strategy
    return chosen_strategy.plan(demand, view, chosen)


def _demand(
    source: Order | Demand | Iterable[ReservationLine],
    *,
    province: str | None,
    region: str | None,
    channel: str | None,
) -> Demand:
    if isinstance(source, Demand):
        return source
    from ordercore.schema import Order

    if isinstance(source, Order):
        demand = Demand.of_order(source)
        return attrs.evolve(demand, channel=channel) if channel else demand
    lines = tuple(source)
    for line in lines:
        if not isinstance(line, ReservationLine):
            raise ConfigurationError(
                "allocate() takes an Order, a Demand or ReservationLines, "
                f"got {type(line).__name__}"
            )
    return Demand(
        lines=lines,
        destination=Destination.of(province, region=region),
        channel=channel,
    )
