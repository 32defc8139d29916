"""Crash recovery: a PostgreSQL writer killed with SIGKILL at random points leaves no damage.

A writer process loops over batched puts, updates (some of them stale on purpose, some with
idempotency keys), appended events, outbox claims and partial acknowledgements in a scratch
schema, and is killed at a random moment. After every kill:

- the server has ended all of the writer's sessions, so none is left ``idle in transaction``,
  and no client holds a lock on the schema's tables;
- ``integrity_check()`` finds nothing: every order's row agrees with its body and its
  versions 1..N have exactly one change-log entry each (one outbox message per committed
  change), and no change-log entry belongs to an order that was not stored;
- every idempotency key points at an order that was stored with (at least) the recorded version;
- everything the writer saw committed is there: the orders it stored, the versions its updates
  returned and the outbox messages it acknowledged;
- a fresh update of the orders the writer was updating and a claim of the whole outbox succeed
  at once, well within the store's lock timeout.

Set ORDERCORE_CRASH_TRIALS (e.g. 50) for the long battery.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ordercore_postgres import PostgresStore

URL = os.environ.get("ORDERCORE_TEST_POSTGRES_URL", "")
TRIALS = int(os.environ.get("ORDERCORE_CRASH_TRIALS", "8"))
# How long the test's own store waits for a lock (lock_timeout) before failing.
LOCK_TIMEOUT = 5.0
# How long the server may take to end the sessions of a killed client.
SESSION_GRACE = 10.0

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not URL,
        reason="set ORDERCORE_TEST_POSTGRES_URL to run the PostgreSQL store tests "
        "(e.g. postgresql://postgres@127.0.0.1:5432/test)",
    ),
]

WRITER = textwrap.dedent(
    """
    import random, sys
    from datetime import UTC, datetime, timedelta
    from ordercore.errors import DuplicateOrder, VersionConflict
    from ordercore.schema import Actor, OrderEvent, OrderStatus
    from ordercore.testing import OrderFactory
    from ordercore_postgres import PostgresStore

    url, schema, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rnd = random.Random(seed)
    start = datetime(2027, 1, 1, tzinfo=UTC) + timedelta(days=seed)
    factory = OrderFactory(seed=seed, start=start, span=timedelta(hours=12))
    store = PostgresStore.from_url(
        url, schema=schema, min_size=1, max_size=2, application_name=f"oc-crash-{schema}"
    )

    def report(*words):
        print(*words, flush=True)

    report("ready")
    step = 0
    while True:
        step += 1
        if rnd.random() < 0.2:
            key = f"put:{seed}:{step}"
            order = factory.order()
            try:
                stored = [store.put(order, idempotency_key=key)]
            except DuplicateOrder:
                stored = []
            else:
                assert store.put(order, idempotency_key=key) == stored[0], "replay differs"
        else:
            try:
                stored = store.put_many(factory.orders(rnd.randrange(1, 40)))
            except DuplicateOrder:
                stored = []
        if stored:
            report("put", *(order.id for order in stored))
        busy = [OrderStatus.PAID, OrderStatus.ALLOCATED, OrderStatus.PACKED]
        picked = {order.id: order for order in store.query(limit=20, status=busy)}
        fresh = [order for order in stored if order.status in busy and order.id not in picked]
        for order in rnd.sample(fresh, k=min(3, len(fresh))):
            picked[order.id] = order
        for order in picked.values():
            status = rnd.choice([OrderStatus.ALLOCATED, OrderStatus.PACKED, OrderStatus.SHIPPED])
            key = f"update:{seed}:{step}:{order.id}" if rnd.random() < 0.3 else None
            new = store.update(
                order.evolve(status=status, seller_note=f"n{rnd.random()}"), idempotency_key=key
            )
            report("version", new.id, new.version)
            if rnd.random() < 0.3:
                try:
                    store.update(order.evolve(seller_note="stale"))
                except VersionConflict:
                    pass
                else:
                    raise AssertionError(f"a stale update of {order.id} was accepted")
            note = OrderEvent(order_id=order.id, type="order.noted", actor=Actor.system())
            store.append_events(order.id, [note])
        batch = store.claim_outbox(25, lease_seconds=0)
        acked = [message.id for message in batch[: len(batch) // 2]]
        store.ack_outbox(acked)
        if acked:
            report("acked", *acked)
    """
)


@dataclass
class Committed:
    """What the writer reported as committed before it was killed."""

    orders: set[str] = field(default_factory=set)
    versions: dict[str, int] = field(default_factory=dict)
    acked: set[int] = field(default_factory=set)

    @classmethod
    def parse(cls, log: str) -> Committed:
        committed = cls()
        # A line cut short by the kill is not a report.
        for line in log.splitlines(keepends=True):
            if not line.endswith("\n"):
                break
            kind, *words = line.split()
            if kind == "put":
                committed.orders.update(words)
            elif kind == "version":
                order_id, version = words[0], int(words[1])
                committed.versions[order_id] = max(version, committed.versions.get(order_id, 0))
            elif kind == "acked":
                committed.acked.update(int(word) for word in words)
        return committed

    def __bool__(self) -> bool:
        return bool(self.orders or self.versions or self.acked)


def _libpq_url(url: str) -> str:
    """The URL as libpq takes it (no ``+driver`` in the scheme)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}://{rest}"


def _run_and_kill(schema: str, seed: int, log: Path, rnd: random.Random) -> Committed:
    """Start a writer, kill it with SIGKILL at a random moment; return what it committed."""
    with (
        log.open("w") as out,
        subprocess.Popen(
            [sys.executable, "-c", WRITER, URL, schema, str(seed)],
            stdout=out,
            stderr=subprocess.STDOUT,
        ) as writer,
    ):
        try:
            deadline = time.monotonic() + 60
            while not log.read_text().startswith("ready\n"):
                if writer.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"writer did not start: {log.read_text()[-4000:]}")
                time.sleep(0.01)
            time.sleep(rnd.uniform(0.05, 0.8))
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=30)
    if writer.returncode != -signal.SIGKILL:
        pytest.fail(f"writer ended by itself ({writer.returncode}): {log.read_text()[-4000:]}")
    return Committed.parse(log.read_text())


def _writer_sessions(admin: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    """Wait for the server to end the killed writer's sessions; return those still there."""
    deadline = time.monotonic() + SESSION_GRACE
    while True:
        rows = admin.execute(
            "SELECT pid, state, backend_xid IS NOT NULL, query FROM pg_stat_activity "
            "WHERE application_name = %s",
            (f"oc-crash-{schema}",),
        ).fetchall()
        if not rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)


def _locks_held(admin: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    """Locks that client sessions (other than ``admin``) hold on the schema's relations."""
    return admin.execute(
        "SELECT l.pid, c.relname, l.mode, l.granted FROM pg_locks l "
        "JOIN pg_class c ON c.oid = l.relation "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE n.nspname = %s AND a.backend_type = 'client backend' "
        "AND l.pid <> pg_backend_pid()",
        (schema,),
    ).fetchall()


def _dangling_keys(admin: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    """Idempotency keys whose order is missing or older than the version they recorded."""
    return admin.execute(
        f'SELECT k.key, k.result FROM "{schema}".idempotency_keys k '
        f"LEFT JOIN \"{schema}\".orders o ON o.id = k.result::json->>'order_id' "
        "WHERE o.id IS NULL OR o.version < (k.result::json->>'version')::int"
    ).fetchall()


def _check_committed(
    admin: psycopg.Connection[Any], schema: str, committed: Committed, after: str
) -> None:
    """Everything the writer saw committed survived the kill."""
    rows = admin.execute(
        f'SELECT id, version FROM "{schema}".orders WHERE id = ANY(%s)',
        (sorted(committed.orders | set(committed.versions)),),
    ).fetchall()
    stored = dict(rows)
    missing = sorted(committed.orders - set(stored))
    assert not missing, f"{after}: stored orders lost: {missing}"
    lost = {
        order_id: (version, stored.get(order_id))
        for order_id, version in committed.versions.items()
        if stored.get(order_id, 0) < version
    }
    assert not lost, f"{after}: committed updates lost (reported, stored): {lost}"
    undelivered = admin.execute(
        f'SELECT id FROM "{schema}".order_changes WHERE id = ANY(%s) AND delivered_at IS NULL',
        (sorted(committed.acked),),
    ).fetchall()
    assert not undelivered, f"{after}: acknowledged outbox messages pending again: {undelivered}"


def _check_no_lock_left(store: PostgresStore) -> None:
    """Updating the orders the writer works on and claiming the whole outbox do not wait."""
    began = time.monotonic()
    busy = ["paid", "allocated", "packed"]
    for order in store.query(limit=20, status=busy):
        updated = store.update(order.evolve(seller_note="after the crash"))
        assert updated.version == order.version + 1
    pending = store.outbox_pending()
    claimed = store.claim_outbox(pending + 10, lease_seconds=0)
    assert len(claimed) == pending, "outbox messages still locked by the killed writer"
    took = time.monotonic() - began
    assert took < LOCK_TIMEOUT, f"fresh writes took {took:.1f} s"


def test_sigkill_at_random_points_never_leaves_half_written_state(
    schema: str, tmp_path: Path
) -> None:
    """R4 (PostgreSQL): after each kill -9 the store is intact, unlocked and has made progress."""
    # Create the schema first, so every writer starts on a migrated one.
    PostgresStore.from_url(URL, schema=schema).close()
    rnd = random.Random(4)
    counts: list[int] = []
    productive = 0
    with psycopg.connect(_libpq_url(URL), autocommit=True) as admin:
        for trial in range(TRIALS):
            after = f"after kill {trial + 1}"
            committed = _run_and_kill(schema, 1000 + trial, tmp_path / f"writer-{trial}.log", rnd)
            productive += bool(committed)
            left = _writer_sessions(admin, schema)
            assert left == [], f"{after}: sessions of the killed writer remain: {left}"
            assert _locks_held(admin, schema) == [], after
            with PostgresStore.from_url(
                URL, schema=schema, min_size=1, max_size=1, timeout=LOCK_TIMEOUT
            ) as store:
                assert store.integrity_check() == [], after
                assert _dangling_keys(admin, schema) == [], after
                _check_committed(admin, schema, committed, after)
                counts.append(store.count())
                _check_no_lock_left(store)
                assert store.integrity_check() == [], f"{after}, then fresh writes"
    assert counts == sorted(counts), f"orders disappeared: {counts}"
    assert counts[-1] > 0, counts
    assert productive >= TRIALS // 2, f"only {productive} of {TRIALS} writers committed anything"
