"""Crash recovery (R4): a PostgreSQL writer killed with SIGKILL at random points loses nothing.

The writer (``tests/storage/crash_trials.py``, shared with the SQLite trials) works in a scratch
schema: single puts (some with idempotency keys, replayed), ``put_many`` batches, updates (some
stale on purpose), appended notes, outbox claims and partial acknowledgements. It reports each
write only after the store returned from it, and is killed at a random moment. After every kill:

- the server has ended all of the writer's sessions, so none is left ``idle in transaction``,
  and no client holds a lock on the schema's tables;
- ``integrity_check()`` finds nothing: every order's row agrees with its body, its versions
  1..N have exactly one change-log entry each (one outbox message per committed change), and
  no change-log entry belongs to an order that was not stored;
- every acknowledged order is stored at (at least) its acknowledged version, with the
  acknowledged content at that version, and the change log holds each of its versions once;
- every acknowledged idempotency key is recorded for its order, and a key of a write that was
  not acknowledged points at a stored order or is not recorded at all;
- no acknowledged outbox message is handed out again;
- a fresh update of the orders the writer was updating and a claim of the whole outbox succeed
  at once, well within the store's lock timeout.

Set ORDERCORE_CRASH_TRIALS (e.g. 50, as ``nox -s battery`` does) for the long battery.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest

from ordercore.testing import OrderFactory
from ordercore_postgres import PostgresStore

URL = os.environ.get("ORDERCORE_TEST_POSTGRES_URL", "")
# The writer and the check are shared with the SQLite crash trials.
CRASH_TRIALS = Path(__file__).resolve().parents[3] / "tests" / "storage" / "crash_trials.py"
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


def _load_crash_trials() -> ModuleType:
    """The crash-trial helpers in the repository's ``tests/storage``, loaded by path.

    pytest may run this file under the repository's configuration or the plugin's, so the
    helpers' directory is not necessarily on ``sys.path``.
    """
    known = sys.modules.get("crash_trials")
    if known is not None:
        return known
    spec = importlib.util.spec_from_file_location("crash_trials", CRASH_TRIALS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["crash_trials"] = module
    spec.loader.exec_module(module)
    return module


if not CRASH_TRIALS.exists():
    pytest.skip(
        f"the crash trials need the ordercore repository's tests/storage/{CRASH_TRIALS.name}",
        allow_module_level=True,
    )
crash = _load_crash_trials()


def _libpq_url(url: str) -> str:
    """The URL as libpq takes it (no ``+driver`` in the scheme)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}://{rest}"


def _writer_url(schema: str) -> str:
    """The store URL a writer opens: the test database, the scratch schema, a session name."""
    options = f"schema={schema}&application_name=oc-crash-{schema}&min_size=1&max_size=2"
    return f"{URL}{'&' if '?' in URL else '?'}{options}"


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


def test_sigkill_at_random_points_loses_no_acknowledged_write(schema: str, tmp_path: Path) -> None:
    """R4 (PostgreSQL): after each kill -9 every acknowledged write is there, nothing is
    half-written or locked."""
    # Create the schema first, so every writer starts on a migrated one.
    PostgresStore.from_url(URL, schema=schema).close()
    rnd = random.Random(4)
    ledger = crash.Ledger()
    counts: list[int] = []
    productive = 0
    with psycopg.connect(_libpq_url(URL), autocommit=True) as admin:
        for trial in range(TRIALS):
            after = f"after kill {trial + 1}"
            acks = crash.kill_at_random(
                _writer_url(schema), 1000 + trial, tmp_path / f"acks-{trial}", rnd, longest=0.8
            )
            productive += ledger.read(acks) > 0
            left = _writer_sessions(admin, schema)
            assert left == [], f"{after}: sessions of the killed writer remain: {left}"
            assert _locks_held(admin, schema) == [], after
            with PostgresStore.from_url(
                URL, schema=schema, min_size=1, max_size=1, timeout=LOCK_TIMEOUT
            ) as store:
                assert store.integrity_check() == [], after
                assert crash.check_acknowledged(store, ledger) == [], after
                assert crash.redelivered(store, ledger) == [], after
                counts.append(store.count())
                _check_no_lock_left(store)
                assert store.integrity_check() == [], f"{after}, then fresh writes"
    assert counts == sorted(counts), f"orders disappeared: {counts}"
    assert len(ledger.orders) > 0, "no writer had a write acknowledged"
    assert productive >= TRIALS // 2, f"only {productive} of {TRIALS} writers acknowledged anything"


def test_the_check_reports_an_acknowledged_order_that_is_not_stored(schema: str) -> None:
    """The check after a kill can fail: an acknowledged put missing from the store is reported."""
    factory = OrderFactory(seed=5)
    with PostgresStore.from_url(URL, schema=schema, min_size=1, max_size=1) as store:
        ledger = crash.Ledger()
        ledger.note(store.put(factory.order()))
        assert crash.check_acknowledged(store, ledger) == []
        lost = factory.order()
        ledger.note(lost.model_copy(update={"version": 1}))
        assert crash.check_acknowledged(store, ledger) == [
            f"order {lost.id}: acknowledged at version 1, not stored"
        ]
