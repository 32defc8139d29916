"""Allocation: region routing, coverage, fewest-location splits, bundles kept whole, plans."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordercore import Money
from ordercore.errors import (
    ConfigurationError,
    InsufficientStock,
    PluginNotFound,
    UnknownLocation,
)
from ordercore.inventory import (
    BackorderPolicy,
    GiftPolicy,
    Inventory,
    Location,
    LocationKind,
    ReservationLine,
    ReservationRequest,
    ReservationStatus,
    open_inventory,
)
from ordercore.inventory._allocation import (
    AllocationPlan,
    AllocationStrategy,
    Demand,
    Destination,
    LocationDecision,
    PriorityStrategy,
    Region,
    RegionPriorityStrategy,
    SingleLocationStrategy,
    StockTable,
    StockView,
    allocate,
    load_strategy,
    province_of,
    region_of,
    serves,
)
from ordercore.schema import Actor, ActorKind, Address, LineComponent, Order, OrderLine
from ordercore.testing import OrderFactory

HZ = Location(id="WH-HZ", name="Hangzhou", region="east_china", priority=50)
GZ = Location(id="WH-GZ", name="Guangzhou", region="华南", priority=10)
BJ = Location(id="WH-BJ", name="Beijing", region="北京", priority=20)
LOCATIONS = (HZ, GZ, BJ)


def line(sku: str, quantity: int, **fields: object) -> ReservationLine:
    return ReservationLine(sku=sku, quantity=quantity, **fields)  # type: ignore[arg-type]


def table(
    stock: dict[str, dict[str, int]], locations: Sequence[Location] = LOCATIONS
) -> StockTable:
    return StockTable(stock, locations=locations)


def order_to(province: str, city: str, lines: Sequence[OrderLine]) -> Order:
    order = OrderFactory(seed=3).order(
        channel="taobao",
        status="paid",
        lines=1,
        receiver=Address(province=province, city=city, detail="文三路 1 号"),
    )
    return order.evolve(lines=tuple(lines))


def order_line(line_id: str, sku: str, quantity: int, **fields: object) -> OrderLine:
    return OrderLine(
        line_id=line_id,
        sku=sku,
        title=sku,
        quantity=quantity,
        unit_price=Money("10.00"),
        **fields,
    )


# -- the region vocabulary ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "province", "region"),
    [
        ("浙江省", "浙江", Region.EAST_CHINA),
        ("浙江", "浙江", Region.EAST_CHINA),
        (" 浙江省杭州市西湖区 ", "浙江", Region.EAST_CHINA),
        ("上海市", "上海", Region.EAST_CHINA),
        ("广东省", "广东", Region.SOUTH_CHINA),
        ("广西壮族自治区", "广西", Region.SOUTH_CHINA),
        ("内蒙古自治区", "内蒙古", Region.NORTH_CHINA),
        ("黑龙江省", "黑龙江", Region.NORTHEAST_CHINA),
        ("新疆维吾尔自治区", "新疆", Region.NORTHWEST_CHINA),
        ("重庆市", "重庆", Region.SOUTHWEST_CHINA),
        ("湖北省", "湖北", Region.CENTRAL_CHINA),
        ("香港特别行政区", "香港", Region.HONG_KONG_MACAO_TAIWAN),
        ("Zhejiang", "浙江", Region.EAST_CHINA),
        ("330000", "浙江", Region.EAST_CHINA),
        ("44", "广东", Region.SOUTH_CHINA),
    ],
)
def test_provinces_are_read_as_channels_send_them(text: str, province: str, region: Region) -> None:
    assert province_of(text) == province
    assert region_of(text) == region.value


def test_region_names_in_english_chinese_and_values() -> None:
    assert region_of("华东") == region_of("East China") == region_of("east_china") == "east_china"
    assert region_of("华东地区") == region_of("east") == "east_china"
    assert region_of("Zone-3") == "zone-3"  # in-house zones still match each other
    assert region_of(None) is None and province_of("") is None and province_of("火星") is None
    assert Region.EAST_CHINA.chinese == "华东" and Region.EAST_CHINA.label == "East China"
    assert "浙江" in Region.EAST_CHINA.provinces() and "广东" not in Region.EAST_CHINA.provinces()


def test_which_locations_serve_a_destination() -> None:
    hangzhou = Destination.of("浙江省")
    assert serves(HZ, hangzhou)
    assert serves(Location(id="S1", region="浙江"), hangzhou)  # a province stands for its region
    assert serves(Location(id="S2", region="上海市"), hangzhou)
    assert not serves(GZ, hangzhou)
    # regions_served: a region serves the whole region, a province only that province.
    assert serves(Location(id="S3", regions_served=("华东",)), Destination.of("江苏"))
    only_zj = Location(id="S4", regions_served=("浙江省",))
    assert serves(only_zj, hangzhou) and not serves(only_zj, Destination.of("江苏省"))
    assert not serves(HZ, Destination())


def test_destination_read_from_the_receiver_address_or_its_code() -> None:
    assert Destination.of_address(Address(province="浙江省", city="杭州市")) == Destination(
        province="浙江", region="east_china", city="杭州市"
    )
    assert Destination.of_address(Address(province_code="440000")).region == "south_china"
    assert Destination.of_address(None) == Destination()
    assert Destination.of_address(Address(province="Atlantis")).province == "Atlantis"


# -- routing and coverage -----------------------------------------------------------------


def test_an_order_to_hangzhou_goes_to_the_hangzhou_warehouse_when_it_covers_everything() -> None:
    order = order_to("浙江省", "杭州市", [order_line("1", "MUG-1", 2), order_line("2", "LID-1", 1)])
    stock = table({"WH-HZ": {"MUG-1": 5, "LID-1": 5}, "WH-GZ": {"MUG-1": 50, "LID-1": 50}})

    plan = allocate(stock, order)

    assert plan.complete and plan.locations == ("WH-HZ",)
    assert {(a.sku, a.quantity, a.location) for a in plan.assignments} == {
        ("MUG-1", 2, "WH-HZ"),
        ("LID-1", 1, "WH-HZ"),
    }
    assert plan.demand.order_id == order.id and plan.demand.channel == "taobao"
    assert [d.location.id for d in plan.considered] == ["WH-HZ", "WH-GZ", "WH-BJ"]
    hz, gz, bj = plan.considered
    assert hz.chosen and hz.serves_destination and "covers the whole order" in hz.reason
    assert not gz.chosen and "WH-HZ ranks higher" in gz.reason
    assert not bj.chosen and "holds none" in bj.reason


def test_a_location_that_covers_the_whole_order_wins_over_a_nearer_partial_one() -> None:
    stock = table({"WH-HZ": {"A": 5}, "WH-GZ": {"A": 5, "B": 1}, "WH-BJ": {"A": 5, "B": 5}})

    plan = allocate(stock, [line("A", 2), line("B", 2)], province="浙江")

    assert plan.complete and plan.locations == ("WH-BJ",)
    hz = plan.considered[0]
    assert hz.location == HZ and not hz.chosen
    assert "could cover only 2 of 4 units; WH-BJ covers the whole order" in hz.reason


def test_without_a_single_cover_the_order_splits_across_the_fewest_locations() -> None:
    locations = [
        Location(id="L1", region="east_china", priority=1),
        Location(id="L2", region="east_china", priority=2),
        Location(id="L3", priority=3),
        Location(id="L4", priority=4),
    ]
    # L1..L3 each hold one SKU; L4 holds A and B together, so L4 + L3 is the fewest.
    stock = table(
        {"L1": {"A": 9}, "L2": {"B": 9}, "L3": {"C": 9}, "L4": {"A": 9, "B": 9}}, locations
    )

    plan = allocate(stock, [line("A", 3), line("B", 3), line("C", 3)], province="上海市")

    assert plan.complete
    assert plan.locations == ("L3", "L4")
    assert plan.units_at("L4") == {"A": 3, "B": 3} and plan.units_at("L3") == {"C": 3}
    reasons = {d.location.id: d.reason for d in plan.considered}
    assert reasons["L1"].startswith("skipped: not needed; L3, L4 cover the order")
    assert reasons["L4"] == "chosen: takes 6 of 9 units (A x3, B x3)"


def test_one_sku_is_split_across_locations_when_no_location_has_enough() -> None:
    stock = table({"WH-HZ": {"A": 4}, "WH-GZ": {"A": 3}, "WH-BJ": {"A": 10}})

    plan = allocate(stock, [line("A", 12)], province="浙江")

    assert plan.complete
    # BJ covers the most (10), then HZ (serves the region) ties GZ on what is left: HZ ranks
    # first. Within the chosen locations the better-ranked one ships as much as it holds.
    assert plan.locations == ("WH-HZ", "WH-BJ")
    assert plan.units_at("WH-HZ") == {"A": 4} and plan.units_at("WH-BJ") == {"A": 8}
    assert sum(a.quantity for a in plan.assignments) == 12


def test_a_bundle_is_never_split_and_the_plan_says_why() -> None:
    stock = table({"WH-HZ": {"MUG": 5}, "WH-GZ": {"LID": 5}, "WH-BJ": {"MUG": 1, "LID": 1}})
    demand = [line("MUG", 2, bundle="box-1"), line("LID", 1, bundle="box-1")]

    plan = allocate(stock, demand, province="浙江")

    assert not plan.complete
    assert plan.assignments == ()
    assert plan.shortfall == {"MUG": 2, "LID": 1}
    assert plan.unassigned == tuple(demand)
    assert any("bundle box-1 (LID x1, MUG x2) not covered" in n for n in plan.notes)
    assert any("never split" in n for n in plan.notes)
    reasons = {d.location.id: d.reason for d in plan.considered}
    assert "cannot take bundle box-1 whole: lacks LID (needs 1, has 0)" in reasons["WH-HZ"]
    assert "lacks MUG (needs 2, has 1)" in reasons["WH-BJ"]


def test_a_bundle_goes_whole_to_a_location_that_holds_all_its_components() -> None:
    stock = table(
        {"WH-HZ": {"MUG": 5, "TEA": 5}, "WH-GZ": {"LID": 5}, "WH-BJ": {"MUG": 2, "LID": 1}}
    )
    demand = [line("MUG", 2, bundle="box-1"), line("LID", 1, bundle="box-1"), line("TEA", 1)]

    plan = allocate(stock, demand, province="浙江")

    assert plan.complete and plan.locations == ("WH-HZ", "WH-BJ")
    assert {a.location for a in plan.assignments if a.bundle == "box-1"} == {"WH-BJ"}
    assert plan.notes == ("bundle box-1 (LID x1, MUG x2) kept whole at WH-BJ",)


def test_bundles_of_an_order_come_from_its_lines_components() -> None:
    gift_box = order_line(
        "7",
        "BOX-1",
        2,
        components=(LineComponent(sku="MUG", quantity=3), LineComponent(sku="LID", quantity=1)),
    )
    order = order_to("广东省", "广州市", [gift_box, order_line("8", "PIL-001", 1, is_gift=True)])

    demand = Demand.of_order(order)

    assert demand.lines == (
        ReservationLine(sku="MUG", quantity=6, bundle="7"),
        ReservationLine(sku="LID", quantity=2, bundle="7"),
        ReservationLine(sku="PIL-001", quantity=1, gift=True),
    )
    assert demand.destination.region == "south_china"
    plan = allocate(table({"WH-GZ": {"MUG": 6, "LID": 1, "PIL-001": 1}}), order)
    assert plan.shortfall == {"MUG": 6, "LID": 2}  # one LID short: the whole box waits
    assert [a.sku for a in plan.assignments] == ["PIL-001"]


def test_priority_ties_are_broken_by_location_id() -> None:
    locations = [Location(id=name, priority=5) for name in ("W-C", "W-A", "W-B")]
    stock = table({name: {"A": 10} for name in ("W-A", "W-B", "W-C")}, locations)

    plan = allocate(stock, [line("A", 1)])

    assert plan.locations == ("W-A",)
    assert [d.location.id for d in plan.considered] == ["W-A", "W-B", "W-C"]


def test_the_same_input_gives_the_same_plan_whatever_the_order_of_locations() -> None:
    stock = {"WH-HZ": {"A": 3, "B": 1}, "WH-GZ": {"A": 3, "C": 2}, "WH-BJ": {"B": 4, "C": 2}}
    demand = [line("A", 5), line("B", 2), line("C", 3)]
    plans = [
        allocate(table(stock, order), demand, province="浙江")
        for order in itertools.permutations(LOCATIONS)
    ]
    assert plans[0].complete and plans[0].locations == ("WH-HZ", "WH-GZ", "WH-BJ")
    assert all(plan == plans[0] for plan in plans[1:])
    assert all(plan.explain() == plans[0].explain() for plan in plans[1:])


def test_shortfall_reports_what_no_location_can_cover() -> None:
    stock = table({"WH-HZ": {"A": 2}, "WH-GZ": {"A": 1, "B": 1}})

    plan = allocate(stock, [line("A", 5), line("B", 1), line("C", 2)], province="浙江")

    assert not plan.complete
    assert plan.shortfall == {"A": 2, "C": 2}
    assert plan.unassigned == (line("A", 2), line("C", 2))
    assert sum(a.quantity for a in plan.assignments if a.sku == "A") == 3


def test_explain_names_every_location_considered_and_what_it_decided() -> None:
    stock = table({"WH-HZ": {"A": 2}, "WH-GZ": {"A": 1, "B": 1}})

    plan = allocate(stock, [line("A", 5), line("B", 1)], province="浙江省")
    text = plan.explain()

    assert text.splitlines()[0] == (
        "Allocation of the demand (2 lines, 6 units) to 浙江 (east_china) by region_priority: "
        "INCOMPLETE, 2 locations (WH-HZ, WH-GZ)."
    )
    for decision in plan.considered:
        assert f"{decision.location.id} [" in text
        assert decision.reason in text
    assert "WH-BJ [warehouse, Beijing, in 北京, priority 20] skipped: holds none" in text
    assert "line 1: A x2 -> WH-HZ" in text
    assert "Shortfall: A x2" in text


def test_lines_pinned_to_a_location_stay_there() -> None:
    stock = table({"WH-HZ": {"A": 5}, "WH-GZ": {"A": 5, "ENG": 1}})

    plan = allocate(stock, [line("A", 1), line("ENG", 1, location="WH-GZ")], province="浙江")

    assert plan.complete and plan.locations == ("WH-GZ",)
    with pytest.raises(UnknownLocation) as caught:
        allocate(stock, [line("A", 1, location="LINE-C")])
    assert caught.value.location == "LINE-C"


def test_allocating_from_some_locations_only() -> None:
    stock = {"WH-HZ": {"A": 5}, "WH-GZ": {"A": 5}}
    plan = allocate(table(stock), [line("A", 1)], province="浙江", locations=["WH-GZ"])
    assert plan.locations == ("WH-GZ",) and len(plan.considered) == 1
    with pytest.raises(UnknownLocation, match="WH-XX"):
        allocate(table(stock), [line("A", 1)], locations=["WH-XX"])
    # A plain mapping is a stock view too: one warehouse per key.
    assert allocate(stock, [line("A", 1)]).locations == ("WH-GZ",)


def test_bad_input_is_refused_with_typed_errors() -> None:
    with pytest.raises(ConfigurationError, match="at least one line"):
        allocate(table({}), [])
    with pytest.raises(ConfigurationError, match="bundle 'b' has lines pinned"):
        Demand(lines=[line("A", 1, bundle="b", location="X"), line("B", 1, bundle="b")])
    with pytest.raises(ConfigurationError, match="must be an integer >= 0"):
        StockTable({"WH-HZ": {"A": -1}}, locations=[HZ])
    with pytest.raises(UnknownLocation, match="'WH-XX'"):
        StockTable({"WH-XX": {"A": 1}}, locations=[HZ])


# -- strategies ---------------------------------------------------------------------------


def test_built_in_strategies_by_name() -> None:
    assert isinstance(load_strategy("region_priority"), RegionPriorityStrategy)
    assert isinstance(load_strategy("priority"), PriorityStrategy)
    assert isinstance(load_strategy("single_location"), SingleLocationStrategy)
    with pytest.raises(PluginNotFound, match="no-such-strategy"):
        load_strategy("no-such-strategy")


def test_priority_strategy_ignores_regions() -> None:
    stock = table({"WH-HZ": {"A": 5}, "WH-GZ": {"A": 5}})
    assert allocate(stock, [line("A", 1)], province="浙江").locations == ("WH-HZ",)
    plan = allocate(stock, [line("A", 1)], province="浙江", strategy="priority")
    assert plan.locations == ("WH-GZ",) and plan.strategy == "priority"


def test_single_location_strategy_never_splits() -> None:
    stock = table({"WH-HZ": {"A": 4}, "WH-GZ": {"A": 3}})
    plan = allocate(stock, [line("A", 6)], province="浙江", strategy=SingleLocationStrategy())
    assert plan.locations == ("WH-HZ",) and plan.shortfall == {"A": 2}


def test_a_custom_strategy_is_used_as_given() -> None:
    class Nearest:
        def plan(
            self, demand: Demand, stock: StockView, locations: Sequence[Location]
        ) -> AllocationPlan:
            return RegionPriorityStrategy(name="nearest").plan(
                demand, stock, [loc for loc in locations if loc.kind is LocationKind.STORE]
            )

    shop = Location(id="SHOP-1", kind=LocationKind.STORE, priority=900)
    stock = table({"WH-HZ": {"A": 5}, "SHOP-1": {"A": 5}}, [HZ, shop])
    assert isinstance(Nearest(), AllocationStrategy)
    plan = allocate(stock, [line("A", 1)], strategy=Nearest())
    assert plan.locations == ("SHOP-1",) and plan.strategy == "nearest"


# -- reserving a plan ---------------------------------------------------------------------


def test_a_complete_plan_becomes_one_request_whose_lines_name_their_location() -> None:
    stock = table({"WH-HZ": {"A": 4}, "WH-GZ": {"A": 3}})
    plan = allocate(stock, [line("A", 6), line("GIFT", 1, gift=True)], province="浙江")
    assert plan.shortfall == {"GIFT": 1}

    request = plan.to_requests("o-1", channel="douyin", gift_policy=GiftPolicy.DROP)

    assert request.reservation_id == "o-1" and request.channel == "douyin"
    assert request.lines == (
        line("A", 4, location="WH-HZ"),
        line("A", 2, location="WH-GZ"),
        line("GIFT", 1, gift=True, location="WH-HZ"),  # dropped by the inventory
    )
    with pytest.raises(InsufficientStock) as caught:
        plan.to_requests("o-1")  # gift policy FAIL: the plan cannot be reserved whole
    error = caught.value
    assert (error.sku, error.location, error.requested, error.available) == ("GIFT", None, 1, 0)


def test_an_incomplete_plan_queues_its_shortfall_under_a_backorder_policy() -> None:
    stock = table({"WH-HZ": {"A": 4}, "WH-GZ": {"B": 3}})
    plan = allocate(stock, [line("A", 6), line("B", 1)], province="浙江")
    with pytest.raises(InsufficientStock) as caught:
        plan.to_requests("o-2")
    assert (caught.value.requested, caught.value.available) == (6, 4)

    request = plan.to_requests("o-2", backorder=BackorderPolicy.WAIT)

    assert request.backorder is BackorderPolicy.WAIT
    assert request.lines == (
        line("A", 4, location="WH-HZ"),
        line("B", 1, location="WH-GZ"),
        line("A", 2, location="WH-HZ"),
    )


def test_a_location_decision_is_plain_data() -> None:
    decision = LocationDecision(location=HZ, chosen=True, reason="chosen")
    assert decision.units == 0 and not decision.serves_destination


# -- property: never more than available, always complete when it can be -------------------

SKUS = ("A", "B", "C")
IDS = ("L1", "L2", "L3")


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, dict[str, int]], list[ReservationLine]]:
    stock = {
        loc: {sku: draw(st.integers(0, 6)) for sku in SKUS}
        for loc in IDS[: draw(st.integers(1, len(IDS)))]
    }
    lines = [
        line(draw(st.sampled_from(SKUS)), draw(st.integers(1, 5)))
        for _ in range(draw(st.integers(0, 3)))
    ]
    for bundle in range(draw(st.integers(0, 2))):
        skus = draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=3, unique=True))
        lines += [line(sku, draw(st.integers(1, 3)), bundle=f"b{bundle}") for sku in skus]
    if not lines:
        lines.append(line("A", 1))
    return stock, lines


def _feasible(stock: dict[str, dict[str, int]], lines: list[ReservationLine]) -> bool:
    """Brute force: is there a placement of whole bundles after which the rest fits?"""
    bundles: dict[str, dict[str, int]] = {}
    loose: dict[str, int] = {}
    for item in lines:
        if item.bundle is None:
            loose[item.sku] = loose.get(item.sku, 0) + item.quantity
        else:
            need = bundles.setdefault(item.bundle, {})
            need[item.sku] = need.get(item.sku, 0) + item.quantity
    for placement in itertools.product(stock, repeat=len(bundles)):
        left = {loc: dict(levels) for loc, levels in stock.items()}
        ok = True
        for (_, need), loc in zip(bundles.items(), placement, strict=True):
            for sku, units in need.items():
                left[loc][sku] = left[loc].get(sku, 0) - units
                ok = ok and left[loc][sku] >= 0
        if ok and all(sum(left[loc].get(sku, 0) for loc in left) >= n for sku, n in loose.items()):
            return True
    return False


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_a_plan_never_takes_more_than_is_there_and_covers_what_can_be_covered(
    scenario: tuple[dict[str, dict[str, int]], list[ReservationLine]],
) -> None:
    stock, lines = scenario
    locations = [Location(id=loc, priority=i) for i, loc in enumerate(stock)]
    plan = allocate(StockTable(stock, locations=locations), lines)

    taken: dict[tuple[str, str], int] = {}
    for a in plan.assignments:
        taken[(a.sku, a.location)] = taken.get((a.sku, a.location), 0) + a.quantity
        assert a.quantity > 0 and a.sku == lines[a.line].sku
    for (sku, loc), units in taken.items():
        assert units <= stock[loc][sku]
    for bundle in {item.bundle for item in lines if item.bundle}:
        assert len({a.location for a in plan.assignments if a.bundle == bundle}) <= 1
        assigned = {a.line for a in plan.assignments if a.bundle == bundle}
        members = {i for i, item in enumerate(lines) if item.bundle == bundle}
        assert assigned in (set(), members)  # all of a bundle or none of it
    for index, item in enumerate(lines):
        got = sum(a.quantity for a in plan.assignments if a.line == index)
        short = sum(u.quantity for u in plan.unassigned if u is not None and u.sku == item.sku)
        assert got <= item.quantity
        assert short >= 0
    for sku in SKUS:
        demanded = sum(item.quantity for item in lines if item.sku == sku)
        got = sum(a.quantity for a in plan.assignments if a.sku == sku)
        assert got + plan.shortfall.get(sku, 0) == demanded
    assert plan.complete == _feasible(stock, lines)
    assert set(plan.locations) == {a.location for a in plan.assignments}
    assert len(plan.considered) == len(locations)


# -- end to end: allocate over a real Inventory and reserve the plan in one call ----------

STAFF = Actor(kind=ActorKind.PERSON, id="li")


@pytest.fixture(params=["memory", "sqlite"])
def inventory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Inventory]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/shop.db"
    opened = open_inventory(url)
    for location in LOCATIONS:
        opened.add_location(location)
    with opened:
        yield opened


def _stock(inventory: Inventory, levels: dict[str, dict[str, int]]) -> None:
    for location, skus in levels.items():
        for sku, units in skus.items():
            inventory.receive(sku, location, units, actor=STAFF, reason="initial count")


def test_an_order_allocated_over_an_inventory_is_reserved_in_one_call(
    inventory: Inventory,
) -> None:
    _stock(inventory, {"WH-HZ": {"MUG-1": 5, "LID-1": 5}, "WH-GZ": {"MUG-1": 50, "LID-1": 50}})
    order = order_to("浙江省", "杭州市", [order_line("1", "MUG-1", 2), order_line("2", "LID-1", 1)])

    plan = allocate(inventory, order)
    assert plan.complete and plan.locations == ("WH-HZ",)
    reservation = inventory.reserve(plan.to_requests(order.id, ttl=timedelta(minutes=30)))

    assert reservation.status is ReservationStatus.ACTIVE
    assert {(line.sku, line.location, line.quantity) for line in reservation.lines} == {
        ("MUG-1", "WH-HZ", 2),
        ("LID-1", "WH-HZ", 1),
    }
    assert inventory.available("MUG-1", location="WH-HZ") == 3
    assert inventory.available("MUG-1", location="WH-GZ") == 50


def test_a_split_plan_is_reserved_whole_or_not_at_all(inventory: Inventory) -> None:
    _stock(inventory, {"WH-HZ": {"A": 4}, "WH-GZ": {"A": 3, "B": 2}, "WH-BJ": {"C": 1}})
    demand = [line("A", 6), line("B", 1), line("C", 1)]

    plan = allocate(inventory, demand, province="浙江")
    assert plan.complete and plan.locations == ("WH-HZ", "WH-GZ", "WH-BJ")
    assert plan.units_at("WH-HZ") == {"A": 4} and plan.units_at("WH-GZ") == {"A": 2, "B": 1}

    # Another order takes WH-BJ's last C between planning and reserving: nothing is reserved.
    inventory.reserve(
        ReservationRequest(reservation_id="other", lines=[line("C", 1, location="WH-BJ")])
    )
    with pytest.raises(InsufficientStock) as caught:
        inventory.reserve(plan.to_requests("o-1"))
    assert (caught.value.sku, caught.value.location) == ("C", "WH-BJ")
    assert inventory.available("A") == 7 and inventory.available("B") == 2

    # Planned again, the order is short of C; the shortfall waits as a backorder.
    replanned = allocate(inventory, demand, province="浙江")
    assert replanned.shortfall == {"C": 1}
    waiting = inventory.reserve(replanned.to_requests("o-1", backorder=BackorderPolicy.WAIT))
    assert waiting.status is ReservationStatus.BACKORDERED
    inventory.receive("C", "WH-HZ", 1, actor=STAFF)
    held = inventory.reservation("o-1")
    assert held.status is ReservationStatus.ACTIVE
    assert sorted((rl.sku, rl.location, rl.quantity) for rl in held.lines) == [
        ("A", "WH-GZ", 2),
        ("A", "WH-HZ", 4),
        ("B", "WH-GZ", 1),
        ("C", "WH-HZ", 1),
    ]
    assert inventory.verify() == []


def test_a_bundle_is_reserved_at_one_location_of_an_inventory(inventory: Inventory) -> None:
    _stock(inventory, {"WH-HZ": {"MUG": 10}, "WH-GZ": {"MUG": 3, "LID": 1}})
    box = order_line(
        "7",
        "BOX-1",
        1,
        components=(LineComponent(sku="MUG", quantity=3), LineComponent(sku="LID", quantity=1)),
    )
    order = order_to("浙江省", "杭州市", [box, order_line("8", "MUG", 2)])

    plan = allocate(inventory, order)
    reservation = inventory.reserve(plan.to_requests(order.id))

    assert plan.locations == ("WH-HZ", "WH-GZ")
    assert plan.notes == ("bundle 7 (LID x1, MUG x3) kept whole at WH-GZ",)
    assert sorted((rl.sku, rl.location, rl.quantity) for rl in reservation.lines) == [
        ("LID", "WH-GZ", 1),
        ("MUG", "WH-GZ", 3),
        ("MUG", "WH-HZ", 2),
    ]
