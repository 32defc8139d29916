"""Fixtures shared by the PostgreSQL store tests: a scratch schema per test."""

from __future__ import annotations

import importlib
import multiprocessing
import os
import queue
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
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


def _run_processes(target: Callable[..., None], args: list[tuple[Any, ...]]) -> dict[int, Any]:
    """Run ``target`` in one spawned process per argument tuple; return what each reported.

    Each process gets its arguments, then its index, a barrier shared by all of them
    and a queue to put ``(index, report)`` on; a report that is a string is a failure.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(args))
    results = context.Queue()
    processes = [
        context.Process(target=target, args=(*arg, index, barrier, results))
        for index, arg in enumerate(args)
    ]
    for process in processes:
        process.start()
    reported: dict[int, Any] = {}
    deadline = time.monotonic() + 120
    try:
        while len(reported) < len(processes):
            try:
                index, value = results.get(timeout=0.5)
            except queue.Empty:
                silent = [p.exitcode for i, p in enumerate(processes) if i not in reported]
                if any(code is not None for code in silent) or time.monotonic() > deadline:
                    pytest.fail(f"a worker process died or hung without reporting: {silent}")
            else:
                reported[index] = value
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():  # pragma: no cover - only when a worker hangs
                process.kill()
                process.join()
        results.close()
        results.join_thread()
    failed = {index: value for index, value in reported.items() if isinstance(value, str)}
    assert not failed, failed
    return reported


@pytest.fixture
def run_processes() -> Callable[[Callable[..., None], list[tuple[Any, ...]]], dict[int, Any]]:
    """Run work in spawned processes (see :func:`_run_processes`)."""
    return _run_processes


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The module of the child processes' work, importable by name in spawned children."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))
    return importlib.import_module("postgres_store_workers")
