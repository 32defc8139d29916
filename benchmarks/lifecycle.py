"""How fast the lifecycle engine moves orders, beside raw ``transitions`` and a dict table.

Usage::

    python benchmarks/lifecycle.py [--quick] [--orders N] [--repeat R] [--timers N] [--json-only]

Each figure is measured in the same run as what it is judged against:

1. In memory, over ``--orders`` live orders (100,000): ``Lifecycle.apply(order, trigger,
   actor=..., now=..., facts=...)`` (the default lifecycle: routes, guards, effects, the
   changed order and its ``order.transitioned`` event) beside two peers doing the same
   guarded moves on the same orders: ``transitions`` in its static-machine pattern (one
   ``Machine(model=None)`` shared by every order, plain state-holder objects triggered
   with ``machine.events[trigger].trigger(model)``, the same guard functions as
   conditions, a dict audit record built in an ``after`` callback) and a plain dict
   table ``(state, trigger) -> (dest, guards)`` with the same guards and record.
2. The cost of one transition with 1,000 live orders beside 100,000.
3. Memory the engine holds per live order (tracemalloc), beside the peers' state
   holders; and, for reference, a ``Machine`` per order and ``add_model`` on one shared
   machine at a small N.
4. Through the SQLite store, in batches of 1,000: ``Lifecycle.transition_many`` beside
   the store's own ``update_many`` of the same orders with the same status change and
   a plain event, ready-made (the floor).
5. 1,000,000 open SLA timers in SQLite: ``SlaService`` with a real clock and a counting
   notifier, breach latency (deadline -> notification sent) p50/p99, and bytes per timer.

Targets are printed met or not; the last line is one JSON object with every figure.
Nothing is asserted; the exit status is 0.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import itertools
import math
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import transitions
from _harness import Rate, Report, stopwatch
from transitions import Machine

import ordercore
from ordercore.ids import new_id
from ordercore.lifecycle import Lifecycle, TransitionContext, default_lifecycle, default_spec
from ordercore.lifecycle._spec import expand_transitions
from ordercore.schema import Actor, Order, OrderEvent
from ordercore.storage import SQLiteStore
from ordercore.testing import OrderFactory

SEED = 20261111
#: Live orders of the in-memory sections (the issue's figure).
LIVE = 100_000
#: The small population of the cost comparison.
SMALL = 1_000
#: Distinct orders the factory makes; the live orders are copies of them with new ids
#: (the factory takes about 1 ms an order, and generation is not what is measured).
QUICK_UNIQUE, FULL_UNIQUE = 500, 5_000
QUICK_REPEAT, FULL_REPEAT = 3, 5
#: Transitions per timed run with --quick (orders picked at random among the live ones);
#: without it, every live order once.
QUICK_SAMPLE = 10_000
#: Orders of the SQLite section.
QUICK_STORED, FULL_STORED = 3_000, 50_000
#: Orders whose memory is traced (tracemalloc slows the work about threefold).
QUICK_TRACED, FULL_TRACED = 5_000, LIVE
#: Reference figures for a Machine per order and add_model, at a small N.
MACHINE_PER_ORDER_N = 100
ADD_MODEL_N = 1_000
TIMERS = 1_000_000
#: SLA timers due during the measurement window, and the window's length.
QUICK_DUE, FULL_DUE = 2_000, 5_000
DUE_WINDOW_S = 3.0
#: Timers armed through set_timers with --quick; the rest of the million is written as
#: the store's own rows in one INSERT ... SELECT (the store's set_timers, at ~25 us a
#: timer, would take longer than the whole quick run). Without --quick all go through
#: set_timers.
QUICK_ARMED_VIA_API = 20_000
#: How long after the window the service may take to handle every due timer.
SLA_GRACE_S = 15.0
BATCH = 1_000
WARMUP_ITEMS = 200

TARGET_TRANSITIONS_PER_S = 80_000
TARGET_RAW_RATIO = 0.6
TARGET_PERSISTED_RATIO = 0.8
TARGET_BYTES_PER_ORDER = 200
TARGET_COST_RATIO = 1.3
TARGET_SLA_P99_S = 1.0

ACTOR = Actor(kind="rule", id="lifecycle-bench")
#: What guards may read beyond the order; the same for every contender.
FACTS: Mapping[str, Any] = {"stock_locked": True, "parcel_picked_up": False, "custom_made": False}
#: Which trigger to fire from each status: guarded ones first, then any that applies.
PREFERRED: Mapping[str, tuple[str, ...]] = {
    "paid": ("allocate",),
    "allocated": ("pick",),
    "shipped": ("start_transit",),
    "picking": ("request_refund_only",),
    "pending_payment": ("pay",),
    "packed": ("ship",),
    "in_transit": ("deliver",),
    "delivered": ("complete",),
}
#: The statuses of the factory's orders, in turn: five of eight have guarded triggers.
STATUSES = (
    "paid",
    "allocated",
    "shipped",
    "picking",
    "paid",
    "allocated",
    "pending_payment",
    "packed",
)


# -- the report ------------------------------------------------------------------------------


def interleaved(
    runs: Mapping[str, tuple[Callable[[], float], int]],
    *,
    repeat: int,
    warmups: Mapping[str, Callable[[], float]],
) -> dict[str, Rate]:
    """Like ``_harness.compare``, for contenders doing different amounts of work.

    Args:
        runs: Name -> (a run returning the seconds of its timed part, the items it does).
        repeat: Timed runs per contender, interleaved (A B C, B C A, ...).
        warmups: Name -> a short untimed run first.
    """
    names = list(runs)
    for name in names:
        warmups[name]()
    rates = {name: Rate(name, runs[name][1]) for name in names}
    for round_no in range(repeat):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            run, items = runs[name]
            rates[name].per_s.append(items / run())
    return rates


def per_s(rate: Rate) -> float:
    return round(rate.median, 1)


# -- the orders and their transitions ---------------------------------------------------------


@dataclass
class Item:
    """One live order and the trigger fired on it, with what the peers need."""

    order: Order
    trigger: str
    state: str
    dest: str
    guards: tuple[Callable[[Order, TransitionContext], bool], ...]
    context: TransitionContext


class StateHolder:
    """A peer's model: a plain object holding the state, as ``transitions`` documents it."""

    def __init__(self, state: str, order: Order, context: TransitionContext) -> None:
        self.state = state
        self.order = order
        self.context = context


def choose_trigger(lifecycle: Lifecycle, order: Order) -> str | None:
    """A trigger that applies to ``order`` and passes its guards: a preferred one if it can."""
    candidates = [
        *PREFERRED.get(order.status.value, ()),
        *lifecycle.triggers(order),
    ]
    for trigger in candidates:
        if lifecycle.can(order, trigger, actor=ACTOR, facts=FACTS):
            return trigger
    return None


def make_items(lifecycle: Lifecycle, unique: int, count: int, now: datetime) -> list[Item]:
    """``count`` live orders (copies of ``unique`` factory orders with new ids and keys)."""
    factory = OrderFactory(seed=SEED)
    bases: list[tuple[Order, str]] = []
    for status in itertools.islice(itertools.cycle(STATUSES), unique):
        order = factory.order(status=status)
        trigger = choose_trigger(lifecycle, order)
        if trigger is not None:
            bases.append((order, trigger))
    items = []
    for number in range(count):
        base, trigger = bases[number % len(bases)]
        order = base.model_copy(
            update={"id": new_id(), "channel_order_id": f"{base.channel_order_id}-{number}"}
        )
        state = lifecycle.state_of(order)
        route = lifecycle._routes[(state, trigger)]
        items.append(
            Item(
                order=order,
                trigger=trigger,
                state=state,
                dest=route.spec.dest,
                guards=tuple(guard for _, guard in route.guards),
                context=TransitionContext(
                    trigger=trigger,
                    from_status=order.status,
                    from_node=order.node,
                    to_status=route.to_status,
                    to_node=route.to_node,
                    actor=ACTOR,
                    reason=None,
                    data={},
                    facts=FACTS,
                    now=now,
                ),
            )
        )
    return items


def audit_record(
    order_id: str, trigger: str, source: str, dest: str, now: datetime
) -> dict[str, Any]:
    """The peers' audit event: a plain dict with what ours records."""
    return {
        "order_id": order_id,
        "type": "order.transitioned",
        "trigger": trigger,
        "from": source,
        "to": dest,
        "at": now,
        "actor": ACTOR.id,
    }


def static_machine(lifecycle: Lifecycle, records: list[dict[str, Any]], now: datetime) -> Machine:
    """The raw peer: one ``Machine(model=None)`` for every order, the same guards as conditions."""

    def condition(guard: Callable[[Order, TransitionContext], bool]) -> Callable[[Any], bool]:
        return lambda event: guard(event.model.order, event.model.context)

    def audit(event: Any) -> None:
        records.append(
            audit_record(
                event.model.order.id,
                event.event.name,
                event.transition.source,
                event.transition.dest,
                now,
            )
        )

    spec = lifecycle.spec
    table = []
    for source, trigger, transition in expand_transitions(spec):
        table.append(
            {
                "trigger": trigger,
                "source": source,
                "dest": transition.dest,
                "conditions": [condition(lifecycle.guards[name]) for name in transition.guards],
                "after": audit,
            }
        )
    return Machine(
        model=None,
        states=spec.state_refs(),
        transitions=table,
        initial=None,
        auto_transitions=False,
        send_event=True,
    )


def dict_table(lifecycle: Lifecycle) -> dict[tuple[str, str], tuple[str, tuple[Any, ...]]]:
    """The plain peer: ``(state, trigger) -> (dest, guards)``."""
    return {
        (source, trigger): (
            transition.dest,
            tuple(lifecycle.guards[name] for name in transition.guards),
        )
        for source, trigger, transition in expand_transitions(lifecycle.spec)
    }


# -- 1 and 2: transitions in memory -----------------------------------------------------------


def bench_memory_transitions(
    report: Report,
    lifecycle: Lifecycle,
    items: Sequence[Item],
    repeat: int,
    now: datetime,
    sample: int,
) -> None:
    """Transitions of ``sample`` orders picked at random among all the live ones, per run."""
    records: list[dict[str, Any]] = []
    machine = static_machine(lifecycle, records, now)
    table = dict_table(lifecycle)
    every_holder = [StateHolder(item.state, item.order, item.context) for item in items]
    rng = random.Random(SEED)
    indices = rng.sample(range(len(items)), min(sample, len(items)))
    picked = [items[index] for index in indices]
    holders = [every_holder[index] for index in indices]
    small = [items[rng.randrange(SMALL)] for _ in range(len(picked))]

    def ours_over(chosen: Sequence[Item]) -> Callable[[], float]:
        apply = lifecycle.apply

        def run() -> float:
            with stopwatch() as watch:
                for item in chosen:
                    apply(item.order, item.trigger, actor=ACTOR, now=now, facts=FACTS)
            return watch.seconds

        return run

    def raw_over(chosen: Sequence[StateHolder], of: Sequence[Item]) -> Callable[[], float]:
        events = machine.events
        triggers = [item.trigger for item in of]
        starts = [item.state for item in of]

        def run() -> float:
            for holder, start in zip(chosen, starts, strict=True):
                holder.state = start
            records.clear()
            with stopwatch() as watch:
                for holder, trigger in zip(chosen, triggers, strict=True):
                    events[trigger].trigger(holder)
            return watch.seconds

        return run

    def dict_over(chosen: Sequence[StateHolder], of: Sequence[Item]) -> Callable[[], float]:
        triggers = [item.trigger for item in of]
        starts = [item.state for item in of]

        def run() -> float:
            for holder, start in zip(chosen, starts, strict=True):
                holder.state = start
            records.clear()
            append = records.append
            with stopwatch() as watch:
                for holder, trigger in zip(chosen, triggers, strict=True):
                    source = holder.state
                    dest, guards = table[(source, trigger)]
                    order, context = holder.order, holder.context
                    for guard in guards:
                        if not guard(order, context):
                            raise RuntimeError(f"guard {guard.__name__} refused {trigger}")
                    holder.state = dest
                    append(audit_record(order.id, trigger, source, dest, now))
            return watch.seconds

        return run

    count = len(picked)
    runs = {
        "ours": (ours_over(picked), count),
        "raw": (raw_over(holders, picked), count),
        "dict": (dict_over(holders, picked), count),
        "ours_small": (ours_over(small), count),
    }
    warm = slice(0, WARMUP_ITEMS)
    warmups = {
        "ours": ours_over(picked[warm]),
        "raw": raw_over(holders[warm], picked[warm]),
        "dict": dict_over(holders[warm], picked[warm]),
        "ours_small": ours_over(small[warm]),
    }
    rates = interleaved(runs, repeat=repeat, warmups=warmups)
    moved = sum(holder.state == item.dest for holder, item in zip(holders, picked, strict=True))
    if moved != count:
        report.notes.append(f"WARNING: the dict peer moved {moved:,} of {count:,} orders")
    guarded = sum(bool(item.guards) for item in picked)

    ours = rates["ours"]
    report.section(
        f"(a) guarded transitions in memory: {count:,} orders picked at random among "
        f"{len(items):,} live ones ({guarded / count:.0%} guarded), audit event built"
    )
    rate_target = report.target("transitions_per_s", TARGET_TRANSITIONS_PER_S, per_s(ours))
    report.contender("Lifecycle.apply (OrderEvent + changed Order)", ours, target=rate_target)
    raw_ratio = round(ours.median / rates["raw"].median, 3)
    raw_target = report.target("ratio_vs_raw_transitions", TARGET_RAW_RATIO, raw_ratio)
    report.contender(
        "transitions static machine (peer): guards as conditions, dict record",
        rates["raw"],
        ours=ours,
        target=raw_target,
    )
    report.contender(
        "plain dict table (state, trigger) -> dest, same guards", rates["dict"], ours=ours
    )
    report.figures.update(
        {
            "raw_transitions_per_s": per_s(rates["raw"]),
            "dict_table_transitions_per_s": per_s(rates["dict"]),
            "ratio_vs_dict_table": round(ours.median / rates["dict"].median, 3),
            "transitions_per_run": count,
            "guarded_share": round(guarded / count, 3),
            "triggers_fired": dict(sorted(_count(item.trigger for item in picked).items())),
        }
    )

    small_rate = rates["ours_small"]
    cost_small = 1e6 / small_rate.median
    cost_large = 1e6 / ours.median
    cost_ratio = round(cost_large / cost_small, 3)
    report.section(f"(c) cost per transition, {SMALL:,} vs {len(items):,} live orders")
    report.contender(f"Lifecycle.apply, {count:,} picks among {SMALL:,} orders", small_rate)
    report.contender(f"Lifecycle.apply, {count:,} picks among {len(items):,} orders", ours)
    cost_target = report.target("cost_ratio_100k_vs_1k", TARGET_COST_RATIO, cost_ratio, op="<=")
    report.line(
        "cost per transition at 100k / at 1k",
        f"{cost_large:.1f} / {cost_small:.1f} us",
        ours=f"{cost_ratio:.2f}",
        target=cost_target,
    )
    report.figures.update(
        {
            "cost_us_per_transition_1k": round(cost_small, 2),
            "cost_us_per_transition_100k": round(cost_large, 2),
        }
    )
    bench_breakdown(report, items[:20_000], now)


def bench_breakdown(report: Report, items: Sequence[Item], now: datetime) -> None:
    """Where apply's time goes: the copy of the order and the event, each alone (reference)."""

    def copies() -> float:
        with stopwatch() as watch:
            for item in items:
                item.order.model_copy(
                    update={"status": item.context.to_status, "node": item.context.to_node}
                )
        return watch.seconds

    def events() -> float:
        with stopwatch() as watch:
            for item in items:
                OrderEvent(
                    order_id=item.order.id,
                    type="order.transitioned",
                    at=now,
                    actor=ACTOR,
                    from_status=item.order.status,
                    to_status=item.context.to_status,
                    data={"trigger": item.trigger, "from_node": item.order.node, "to_node": None},
                )
        return watch.seconds

    copy_s = min(copies() for _ in range(2)) / len(items) * 1e6
    event_s = min(events() for _ in range(2)) / len(items) * 1e6
    report.line("  of which: Order.model_copy(status, node) alone", f"{copy_s:.1f} us")
    report.line("  of which: OrderEvent(...) alone", f"{event_s:.1f} us")
    report.figures.update({"model_copy_us": round(copy_s, 2), "order_event_us": round(event_s, 2)})


def _count(values: Iterator[str] | Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


# -- 3: memory per live order -------------------------------------------------------------------


@contextmanager
def traced() -> Iterator[list[int]]:
    """Yield a list that receives the traced bytes retained by the ``with`` body."""
    result: list[int] = []
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        yield result
        gc.collect()
        result.append(tracemalloc.get_traced_memory()[0] - before)
    finally:
        tracemalloc.stop()


def bench_memory(report: Report, items: Sequence[Item], now: datetime) -> None:
    count = len(items)
    with traced() as engine:
        lifecycle = Lifecycle(default_spec())
        for item in items:
            lifecycle.apply(item.order, item.trigger, actor=ACTOR, now=now, facts=FACTS)
    engine_bytes = engine[0] / count

    orders = [item.order for item in items]
    with traced() as kept:
        lifecycle = Lifecycle(default_spec())
        for index, item in enumerate(items):
            orders[index] = lifecycle.apply(
                item.order, item.trigger, actor=ACTOR, now=now, facts=FACTS
            ).order
    del orders

    records: list[dict[str, Any]] = []
    with traced() as raw:
        machine = static_machine(lifecycle, records, now)
        holders = [StateHolder(item.state, item.order, item.context) for item in items]
        for holder, item in zip(holders, items, strict=True):
            machine.events[item.trigger].trigger(holder)
        records.clear()
    raw_bytes = raw[0] / count
    del holders, machine

    report.section(f"(d) memory per live order (tracemalloc, {count:,} orders)")
    bytes_target = report.target(
        "bytes_per_order", TARGET_BYTES_PER_ORDER, round(engine_bytes, 1), op="<="
    )
    report.line(
        "engine: Lifecycle built + one apply per order, results dropped",
        f"{engine_bytes:,.1f} B",
        target=bytes_target,
    )
    report.line(
        "  the same, each changed order kept in place of its original",
        f"{kept[0] / count:,.1f} B",
    )
    report.line(
        "transitions static machine: machine + one state holder per order + one trigger",
        f"{raw_bytes:,.1f} B",
    )
    report.notes.append(
        "bytes_per_order: traced memory still held after building a Lifecycle and applying "
        "one transition to each live order (results dropped), divided by the orders; the "
        "orders themselves existed before and are not counted. The engine keeps no state "
        "per order (the order's status and node are its state), so this is the Lifecycle's "
        "own size spread over the orders. Kept in place, a changed order costs what its copy "
        "and new fields (paid_at, shipped_at stamps) cost; that is order data, not engine "
        "state, and is shown for reference."
    )
    report.figures.update(
        {
            "bytes_per_order_orders_traced": count,
            "bytes_per_order_changed_orders_kept": round(kept[0] / count, 1),
            "raw_static_machine_bytes_per_order": round(raw_bytes, 1),
        }
    )
    bench_machine_reference(report, lifecycle, items, now)


def bench_machine_reference(
    report: Report, lifecycle: Lifecycle, items: Sequence[Item], now: datetime
) -> None:
    """A Machine per order and add_model on one machine, at a small N (reference only)."""
    spec = lifecycle.spec
    table = [
        {"trigger": trigger, "source": source, "dest": transition.dest}
        for source, trigger, transition in expand_transitions(spec)
    ]
    states = spec.state_refs()
    chosen = items[:MACHINE_PER_ORDER_N]

    class Model:
        def __init__(self, order: Order) -> None:
            self.order = order

    def machines_per_order(chosen: Sequence[Item]) -> list[Machine]:
        machines = []
        for item in chosen:
            model = Model(item.order)
            machines.append(
                Machine(
                    model=model,
                    states=states,
                    transitions=table,
                    initial=item.state,
                    auto_transitions=False,
                )
            )
            model.trigger(item.trigger)  # type: ignore[attr-defined]
        return machines

    began = time.perf_counter()
    machines = machines_per_order(chosen)
    per_order_s = (time.perf_counter() - began) / len(chosen)
    del machines
    traced_few = chosen[:50]
    with traced() as per_order_bytes:
        machines = machines_per_order(traced_few)
    per_order_b = per_order_bytes[0] / len(traced_few)
    del machines

    def shared_machine() -> Machine:
        return Machine(
            model=None, states=states, transitions=table, initial=None, auto_transitions=False
        )

    adds = [item for item, _ in zip(itertools.cycle(items), range(ADD_MODEL_N), strict=False)]
    shared = shared_machine()
    models = []
    timings = []
    for item in adds:
        model = Model(item.order)
        began = time.perf_counter()
        shared.add_model(model, initial=item.state)
        timings.append(time.perf_counter() - began)
        models.append(model)
    del models, shared
    traced_adds = adds[:200]
    with traced() as add_bytes:
        shared = shared_machine()
        models = [Model(item.order) for item in traced_adds]
        for model, item in zip(models, traced_adds, strict=True):
            shared.add_model(model, initial=item.state)
    add_b = add_bytes[0] / len(traced_adds)
    del models, shared
    tail = statistics.mean(timings[-200:])
    head = statistics.mean(timings[:200])
    report.line(
        f"reference: a Machine per order (N={len(chosen):,}), build + one trigger",
        f"{per_order_s * 1e6:,.0f} us, {per_order_b:,.0f} B",
    )
    report.line(
        f"reference: add_model on one machine, first 200 / last 200 of {ADD_MODEL_N:,}",
        f"{head * 1e6:,.0f} / {tail * 1e6:,.0f} us",
    )
    report.line(
        "reference: add_model memory per model",
        f"{add_b:,.0f} B",
    )
    report.figures.update(
        {
            "machine_per_order_us": round(per_order_s * 1e6, 1),
            "machine_per_order_bytes": round(per_order_b),
            "add_model_first_us": round(head * 1e6, 1),
            "add_model_last_us": round(tail * 1e6, 1),
            "add_model_n": ADD_MODEL_N,
            "add_model_bytes_per_model": round(add_b),
        }
    )


# -- 4: persisted through the SQLite store ----------------------------------------------------


def _checkpointed(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def bench_persisted(
    report: Report,
    lifecycle: Lifecycle,
    items: Sequence[Item],
    repeat: int,
    now: datetime,
    workdir: Path,
) -> None:
    try:
        from ordercore.storage import OrderUpdate
    except ImportError:
        report.notes.append("persisted: skipped, ordercore.storage has no OrderUpdate yet")
        report.skipped_target(
            "persisted_ratio_vs_store_update", TARGET_PERSISTED_RATIO, "no OrderUpdate"
        )
        return
    if not hasattr(SQLiteStore, "update_many"):
        report.notes.append("persisted: skipped, SQLiteStore has no update_many yet")
        report.skipped_target(
            "persisted_ratio_vs_store_update", TARGET_PERSISTED_RATIO, "no update_many"
        )
        return
    template = workdir / "persisted-template.db"
    with SQLiteStore(template) as store:
        stored: list[Order] = []
        for start in range(0, len(items), BATCH):
            batch = [item.order for item in items[start : start + BATCH]]
            stored.extend(_stored_orders(store.put_many(batch)))
    _checkpointed(template)
    by_id = {order.id: order for order in stored}
    orders = [by_id[item.order.id] for item in items]
    pairs = [(order, item.trigger) for order, item in zip(orders, items, strict=True)]
    ready = [
        OrderUpdate(
            order.model_copy(
                update={"status": item.context.to_status, "node": item.context.to_node}
            ),
            events=(
                OrderEvent(
                    order_id=order.id,
                    type="order.transitioned",
                    at=now,
                    actor=ACTOR,
                    from_status=order.status,
                    to_status=item.context.to_status,
                    data={"trigger": item.trigger},
                ),
            ),
        )
        for order, item in zip(orders, items, strict=True)
    ]
    writes_through = "update_many" in inspect.getsource(Lifecycle.transition_many)
    if not writes_through:
        report.notes.append(
            "persisted: Lifecycle.transition_many does not write through store.update_many yet "
            "(one store.update per order); the figure measures it as it is"
        )
    runs_done = itertools.count()

    def fresh() -> Path:
        path = workdir / f"persisted-{next(runs_done)}.db"
        shutil.copyfile(template, path)
        return path

    def ours(count: int) -> Callable[[], float]:
        def run() -> float:
            path = fresh()
            with SQLiteStore(path) as store, stopwatch() as watch:
                for start in range(0, count, BATCH):
                    lifecycle.transition_many(
                        store,
                        pairs[start : min(start + BATCH, count)],
                        actor=ACTOR,
                        now=now,
                        facts=FACTS,
                    )
            _remove(path)
            return watch.seconds

        return run

    def floor(count: int) -> Callable[[], float]:
        def run() -> float:
            path = fresh()
            with SQLiteStore(path) as store, stopwatch() as watch:
                for start in range(0, count, BATCH):
                    store.update_many(ready[start : min(start + BATCH, count)], actor=ACTOR)
            _remove(path)
            return watch.seconds

        return run

    count = len(items)
    rates = interleaved(
        {"ours": (ours(count), count), "floor": (floor(count), count)},
        repeat=repeat,
        warmups={"ours": ours(BATCH), "floor": floor(BATCH)},
    )
    _remove(template)
    persisted_ratio = round(rates["ours"].median / rates["floor"].median, 3)
    report.section(f"(b) persisted through SQLiteStore, {count:,} orders in batches of {BATCH:,}")
    target = report.target(
        "persisted_ratio_vs_store_update", TARGET_PERSISTED_RATIO, persisted_ratio
    )
    report.contender("Lifecycle.transition_many", rates["ours"])
    report.contender(
        "store.update_many of ready changes: same status, plain event (floor)",
        rates["floor"],
        ours=rates["ours"],
        target=target,
    )
    report.figures.update(
        {
            "persisted_transitions_per_s": per_s(rates["ours"]),
            "store_update_many_per_s": per_s(rates["floor"]),
            "persisted_orders": count,
            "transition_many_uses_update_many": writes_through,
        }
    )


def _stored_orders(result: Any) -> list[Order]:
    """The orders a ``put_many`` stored, whatever shape its result has."""
    if isinstance(result, list) and all(isinstance(order, Order) for order in result):
        return result
    for name in ("orders", "stored"):
        found = getattr(result, name, None)
        if found is not None:
            return list(found)
    outcomes = getattr(result, "outcomes", None) or result
    return [outcome.order for outcome in outcomes]


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# -- 5: SLA timers ------------------------------------------------------------------------------


class CountingNotifier:
    """An in-process notifier: counts what it is given and when."""

    def __init__(self) -> None:
        self.messages = 0
        self.order_ids: set[str] = set()
        self.lock = threading.Lock()

    def notify(self, message: Any) -> None:
        with self.lock:
            self.messages += 1
            self.order_ids.update(getattr(message, "order_ids", ()))


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = max(0, math.ceil(fraction * len(ordered)) - 1)
    return ordered[index]


def bulk_rows(path: Path, name: str, first: int, count: int, far: datetime) -> None:
    """Write ``count`` more far-future timers as rows like the store's, in SQLite itself.

    The row shape is read off a timer the store wrote (its id length); the ids are
    ULID-shaped and increasing, as ``new_id`` makes them.
    """
    with closing(sqlite3.connect(path)) as db, db:
        sample = db.execute("SELECT order_id FROM ordercore_timers LIMIT 1").fetchone()
        width = len(sample[0]) if sample else 26
        base_us = int(far.timestamp() * 1_000_000)
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO ordercore_timers (order_id, name, due_at, level) "
            "SELECT printf('01BENCH%0' || ? || 'd', i), ?, ? + (i % 2592000) * 1000000, 1 "
            "FROM n",
            (first, first + count - 1, width - 7, name, base_us),
        )


def bench_sla(
    report: Report,
    lifecycle: Lifecycle,
    timers: int,
    due: int,
    workdir: Path,
    *,
    quick: bool,
) -> None:
    def skip(reason: str) -> None:
        report.notes.append(f"SLA timers: skipped, {reason}")
        report.figures["sla_skipped"] = reason
        report.skipped_target("sla_p99_latency_s", TARGET_SLA_P99_S, reason, op="<=")

    try:
        from ordercore.lifecycle import SlaService
        from ordercore.storage import TimerArm, TimerPlan
    except ImportError as exc:
        skip(f"the SLA service or the store's timers are not there yet ({exc})")
        return
    path = workdir / "sla.db"
    name = "sla:packed.awaiting_outbound"
    factory = OrderFactory(seed=SEED + 1)
    base = factory.order(status="packed", node="awaiting_outbound")
    due_orders = [
        base.model_copy(update={"id": new_id(), "channel_order_id": f"sla-{number}"})
        for number in range(due)
    ]
    with SQLiteStore(path) as store:
        for start in range(0, len(due_orders), BATCH):
            store.put_many(due_orders[start : start + BATCH])
    _checkpointed(path)
    empty = path.stat().st_size

    far = datetime.now(UTC) + timedelta(days=3)
    bulk = timers - due
    via_api = bulk if not quick else min(bulk, QUICK_ARMED_VIA_API)
    began = time.perf_counter()
    with SQLiteStore(path) as store:
        plans = []
        for number in range(via_api):
            arm = TimerArm(name, far + timedelta(seconds=number % 2_592_000))
            plans.append(TimerPlan(new_id(), arm=(arm,)))
            if len(plans) == 10_000:
                store.set_timers(plans)
                plans = []
        if plans:
            store.set_timers(plans)
    api_s = time.perf_counter() - began
    if bulk > via_api:
        bulk_rows(path, name, via_api, bulk - via_api, far)
    with SQLiteStore(path) as store:
        # The due timers, spread over the window, starting a little after arming ends.
        window_start = datetime.now(UTC) + timedelta(seconds=1)
        store.set_timers(
            TimerPlan(
                order.id,
                arm=(TimerArm(name, window_start + timedelta(seconds=DUE_WINDOW_S * n / due)),),
            )
            for n, order in enumerate(due_orders)
        )
        armed = store.timer_count()
    _checkpointed(path)
    bytes_per_timer = (path.stat().st_size - empty) / armed

    notifier = CountingNotifier()
    with SQLiteStore(path) as store:
        service = SlaService(store, lifecycle, notifier, batch_size=500, poll_interval=0.05)
        stop = threading.Event()
        worker = threading.Thread(target=service.run, kwargs={"stop": stop})
        worker.start()
        give_up = time.monotonic() + DUE_WINDOW_S + 1.0 + SLA_GRACE_S
        while time.monotonic() < give_up and len(service.latencies) < due:
            time.sleep(0.05)
        stop.set()
        worker.join()
        ended = datetime.now(UTC)
        latencies = list(service.latencies)
        left = store.timer_count(due_before=ended)
    _remove(path)
    # Timers not handled by the end count with their wait so far (a lower bound), so
    # a slow service cannot improve its p99 by leaving the slowest breaches out.
    missing = max(0, due - len(latencies))
    deadlines = [window_start + timedelta(seconds=DUE_WINDOW_S * n / due) for n in range(due)]
    censored = [(ended - at).total_seconds() for at in deadlines[-missing:]] if missing else []
    report.section(f"(e) SLA timers in SQLite: {armed:,} open, {due:,} due over {DUE_WINDOW_S:g} s")
    if not latencies:
        skip("the service reported no latencies")
        return
    p50 = _percentile(latencies + censored, 0.5)
    p99 = _percentile(latencies + censored, 0.99)
    target = report.target("sla_p99_latency_s", TARGET_SLA_P99_S, round(p99, 4), op="<=")
    report.line("breach latency p50 (deadline -> notification sent)", f"{p50:.3f} s")
    report.line("breach latency p99", f"{p99:.3f} s", target=target)
    report.line("notifications / due timers", f"{notifier.messages:,} / {due:,}")
    if missing:
        report.notes.append(
            f"SLA: {missing:,} due timers were not handled within {SLA_GRACE_S:g} s after the "
            "window; they count in p50/p99 with their wait so far"
        )
    report.line(
        "bytes per timer (file growth after a checkpoint / timers)", f"{bytes_per_timer:,.1f} B"
    )
    report.line(
        f"set_timers, {via_api:,} timers in batches of 10,000 (reference)",
        f"{via_api / api_s:,.0f}/s",
    )
    if bulk > via_api:
        report.notes.append(
            f"SLA: {bulk - via_api:,} of the far-future timers were written as the store's own "
            "rows with one INSERT ... SELECT (--quick); the timers due in the window and "
            f"{via_api:,} others went through set_timers"
        )
    report.figures.update(
        {
            "sla_p50_latency_s": round(p50, 4),
            "sla_timers": armed,
            "sla_due": due,
            "sla_notifications": notifier.messages,
            "sla_breaches": len(latencies),
            "sla_due_left_unclaimed": left,
            "bytes_per_timer": round(bytes_per_timer, 1),
            "sla_unhandled": missing,
            "set_timers_per_s": round(via_api / api_s, 1),
            "sla_timers_via_set_timers": via_api + due,
        }
    )


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and stored orders")
    parser.add_argument("--orders", type=int, default=LIVE, help=f"live orders (default {LIVE:,})")
    parser.add_argument("--repeat", type=int, help="timed repetitions (default 3 / 5)")
    parser.add_argument(
        "--timers", type=int, default=TIMERS, help=f"SLA timers (default {TIMERS:,})"
    )
    parser.add_argument(
        "--json-only", action="store_true", help="print only the JSON line on stdout"
    )
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = QUICK_REPEAT if args.quick else FULL_REPEAT
    if args.orders < SMALL or args.repeat < 1 or args.timers < 1:
        parser.error(f"--orders must be at least {SMALL}, --repeat and --timers at least 1")
    args.unique = QUICK_UNIQUE if args.quick else FULL_UNIQUE
    args.sample = min(args.orders, QUICK_SAMPLE if args.quick else args.orders)
    args.stored = min(args.orders, QUICK_STORED if args.quick else FULL_STORED)
    args.traced = min(args.orders, QUICK_TRACED if args.quick else FULL_TRACED)
    args.due = min(args.timers, QUICK_DUE if args.quick else FULL_DUE)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = sys.stderr if args.json_only else sys.stdout
    report = Report()
    started = time.perf_counter()
    lifecycle = default_lifecycle()
    now = datetime.now(UTC)
    items = make_items(lifecycle, args.unique, args.orders, now)
    print(
        f"ordercore {ordercore.__version__} lifecycle benchmark: {len(items):,} live orders "
        f"(copies of {args.unique:,} factory orders), median of {args.repeat} runs after a "
        f"warm-up; Python {platform.python_version()}, transitions {transitions.__version__}, "
        f"SQLite {sqlite3.sqlite_version}",
        file=out,
    )
    report.figures.update(
        {
            "python": platform.python_version(),
            "ordercore": ordercore.__version__,
            "transitions": transitions.__version__,
            "sqlite": sqlite3.sqlite_version,
            "orders": len(items),
            "repeat": args.repeat,
            "quick": args.quick,
        }
    )
    bench_memory_transitions(report, lifecycle, items, args.repeat, now, args.sample)
    bench_memory(report, items[: args.traced], now)
    with tempfile.TemporaryDirectory(prefix="ordercore-bench-") as workdir:
        folder = Path(workdir)
        bench_persisted(report, lifecycle, items[: args.stored], args.repeat, now, folder)
        bench_sla(report, lifecycle, args.timers, args.due, folder, quick=args.quick)
    report.figures["seconds"] = round(time.perf_counter() - started, 1)
    for note in report.notes:
        print(note, file=out)
    if not args.json_only:
        print(report.table())
        print()
        print("Targets (measured side by side; the rates are for reference):")
        print(report.targets_table())
    print(report.json_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
