"""Work done in child processes by the several-process tests (importable by name when spawned)."""

from __future__ import annotations

from typing import Any

from ordercore.errors import VersionConflict
from ordercore_postgres import PostgresStore


def drain_outbox(url: str, schema: str, index: int, barrier: Any, results: Any) -> None:
    """Claim and acknowledge outbox messages until none are left; report the ids claimed."""
    try:
        with PostgresStore.from_url(url, schema=schema, min_size=1, max_size=1) as store:
            barrier.wait(timeout=60)
            claimed: list[int] = []
            while batch := store.claim_outbox(25, lease_seconds=300):
                claimed.extend(message.id for message in batch)
                store.ack_outbox([message.id for message in batch])
        results.put((index, claimed))
    except BaseException as exc:
        results.put((index, repr(exc)))
        raise


def race_versions(
    url: str, schema: str, order_id: str, trials: int, index: int, barrier: Any, results: Any
) -> None:
    """For each version 1..trials, update the order from that version together with the others."""
    try:
        with PostgresStore.from_url(url, schema=schema, min_size=1, max_size=1) as store:
            base = store.get(order_id)
            outcomes: list[tuple[int, str, int | None]] = []
            for version in range(1, trials + 1):
                change = base.evolve(seller_note=f"writer {index} on version {version}")
                barrier.wait(timeout=60)
                try:
                    store.update(change.model_copy(update={"version": version}))
                except VersionConflict as exc:
                    outcomes.append((version, "conflict", exc.actual))
                else:
                    outcomes.append((version, "won", None))
        results.put((index, outcomes))
    except BaseException as exc:
        results.put((index, repr(exc)))
        raise
