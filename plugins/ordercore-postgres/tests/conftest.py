"""Fixtures shared by the PostgreSQL store tests: a scratch schema per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from ordercore_postgres import PostgresStore

URL = os.environ.get("ORDERCORE_TEST_POSTGRES_URL", "")


def _libpq_url(url: str) -> str:
    """The URL as libpq takes it (no ``+driver`` in the scheme)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}://{rest}"


@pytest.fixture
def schema() -> Iterator[str]:
    """A fresh schema name; the schema is dropped after the test."""
    name = f"oc_test_{uuid.uuid4().hex[:16]}"
    yield name
    with psycopg.connect(_libpq_url(URL), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def open_schema(schema: str) -> Iterator[Callable[..., PostgresStore]]:
    """Open stores on the test's schema; all of them are closed afterwards."""
    opened: list[PostgresStore] = []

    def open_store(**options: Any) -> PostgresStore:
        opened.append(PostgresStore.from_url(URL, schema=schema, **options))
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()
