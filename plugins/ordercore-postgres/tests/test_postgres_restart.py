"""A restart of the PostgreSQL server: the store's next call succeeds and nothing is lost.

The restart ends every session, so each connection the store's pool holds is dead. The pool
checks a connection as it hands it out and replaces a dead one, so the very next ``get``,
``put`` and ``claim_outbox`` work, and everything committed before the restart is still there.

These tests restart the real server (``pg_ctlcluster ... restart``, as the current user), which
disturbs any other test using it: they run only with ORDERCORE_TEST_PG_RESTART=1, as
``nox -s battery`` sets it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from ordercore.schema import Order
from ordercore.testing import OrderFactory
from ordercore_postgres import PostgresStore

URL = os.environ.get("ORDERCORE_TEST_POSTGRES_URL", "")
RESTART = os.environ.get("ORDERCORE_TEST_PG_RESTART", "") == "1"
# How long the server may take to accept connections again after a restart.
READY_WITHIN = 60.0
# The store's timeout: its first call after the restart must not need longer.
STORE_TIMEOUT = 10.0

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(
        not URL,
        reason="set ORDERCORE_TEST_POSTGRES_URL to run the PostgreSQL store tests "
        "(e.g. postgresql://postgres@127.0.0.1:5432/test)",
    ),
    pytest.mark.skipif(
        not RESTART,
        reason="restarts the PostgreSQL server, which disturbs other tests: set "
        "ORDERCORE_TEST_PG_RESTART=1 to run it (nox -s battery does)",
    ),
]


def _libpq_url(url: str) -> str:
    """The URL as libpq takes it (no ``+driver`` in the scheme)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}://{rest}"


def _address() -> tuple[str, str]:
    """The host and port of the test server."""
    params = conninfo_to_dict(_libpq_url(URL))
    return str(params.get("host") or "127.0.0.1"), str(params.get("port") or "5432")


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    if shutil.which(command[0]) is None:
        pytest.fail(f"{command[0]} is not installed; it is needed to restart PostgreSQL")
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _cluster() -> tuple[str, str]:
    """The version and name of the local cluster serving the test server's port."""
    _, port = _address()
    listing = _run("pg_lsclusters", "--no-header")
    for line in listing.stdout.splitlines():
        version, name, cluster_port, *_ = line.split()
        if cluster_port == port:
            return version, name
    pytest.fail(f"no local PostgreSQL cluster listens on port {port}: {listing.stdout!r}")


def _ready() -> bool:
    host, port = _address()
    return _run("pg_isready", "-h", host, "-p", port).returncode == 0


def _wait_until_ready() -> None:
    deadline = time.monotonic() + READY_WITHIN
    while not _ready():
        if time.monotonic() > deadline:
            pytest.fail(f"PostgreSQL did not accept connections within {READY_WITHIN:.0f} s")
        time.sleep(0.1)


def _restart_server() -> None:
    """Restart the cluster and wait until it accepts connections again."""
    version, name = _cluster()
    done = _run("pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart")
    if done.returncode != 0:
        pytest.fail(f"pg_ctlcluster restart failed ({done.returncode}): {done.stderr[-2000:]}")
    _wait_until_ready()


def _sessions(admin: psycopg.Connection[Any], application: str) -> list[int]:
    """The server processes of the sessions a client opened under this application name."""
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s ORDER BY pid",
        (application,),
    ).fetchall()
    return [row[0] for row in rows]


@pytest.fixture
def restart_schema() -> Iterator[str]:
    """A fresh schema name; the schema is dropped afterwards, with the server running again."""
    name = f"restart_{uuid.uuid4().hex[:16]}"
    yield name
    if not _ready():
        version, cluster = _cluster()
        _run("pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "start")
        _wait_until_ready()
    with psycopg.connect(_libpq_url(URL), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.mark.parametrize("min_size", [1, 2])
def test_the_next_calls_after_a_server_restart_succeed_and_nothing_is_lost(
    restart_schema: str, min_size: int
) -> None:
    """Every pooled connection dies in the restart; get, put and claim_outbox work at once
    (with two dead connections, two gets at the same moment both work) and every order,
    event and outbox message committed before the restart is still there."""
    application = f"oc-{restart_schema}"
    factory = OrderFactory(seed=min_size)
    with PostgresStore.from_url(
        URL,
        schema=restart_schema,
        min_size=min_size,
        max_size=4,
        timeout=STORE_TIMEOUT,
        application_name=application,
    ) as store:
        first = store.put(factory.order(status="paid"))
        batch = list(factory.orders(5))
        store.put_many(batch)
        store.update(first.evolve(seller_note="before the restart"))
        ids = [first.id, *(order.id for order in batch)]
        orders = {order_id: store.get(order_id) for order_id in ids}
        events = {order_id: store.events(order_id) for order_id in ids}
        pending = store.outbox_pending()
        assert pending == len(ids) + 1
        with psycopg.connect(_libpq_url(URL), autocommit=True) as admin:
            pooled = _sessions(admin, application)
        assert len(pooled) == min_size, f"the pool holds {pooled}, not {min_size} connections"
        bystander = psycopg.connect(_libpq_url(URL), autocommit=True)

        _restart_server()

        # The restart really ended the sessions: a connection opened before it is dead.
        with pytest.raises(psycopg.OperationalError):
            bystander.execute("SELECT 1")
        bystander.close()

        began = time.monotonic()
        # As many calls at once as the pool held (dead) connections.
        together = threading.Barrier(min_size)

        def get_at_once(order_id: str) -> Order:
            together.wait(timeout=STORE_TIMEOUT)
            return store.get(order_id)

        with ThreadPoolExecutor(max_workers=min_size) as pool:
            got = list(pool.map(get_at_once, ids[:min_size]))
        took = time.monotonic() - began
        assert got == [orders[order_id] for order_id in ids[:min_size]]
        assert took < STORE_TIMEOUT, f"the first calls after the restart took {took:.1f} s"

        late = store.put(factory.order())
        assert late.version == 1
        claimed = store.claim_outbox(pending + 10, lease_seconds=0)
        assert sorted((m.order_id, m.order_version) for m in claimed) == sorted(
            [*((order_id, 1) for order_id in ids), (first.id, 2), (late.id, 1)]
        )
        assert {order_id: store.get(order_id) for order_id in ids} == orders
        assert {order_id: store.events(order_id) for order_id in ids} == events
        assert store.count() == len(ids) + 1
        assert store.integrity_check() == []
