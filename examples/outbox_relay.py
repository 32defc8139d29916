"""An outbox relay: several workers drain one store's outbox, each message handled once.

Run: python examples/outbox_relay.py [--orders 2000] [--workers 4]

Replace ``publish`` with your broker client (RabbitMQ, Kafka, NATS...). A worker
acknowledges a message only after publishing it; one that dies mid-batch leaves
its messages to be handed out again when their lease ends.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from collections import Counter
from pathlib import Path

from ordercore import open_store
from ordercore.storage import OrderStore, OutboxMessage
from ordercore.testing import OrderFactory

published: Counter[int] = Counter()
lock = threading.Lock()


def publish(message: OutboxMessage) -> None:
    with lock:
        published[message.id] += 1


def relay(store: OrderStore) -> int:
    handled = 0
    while batch := store.claim_outbox(50, lease_seconds=30):
        for message in batch:
            publish(message)
        store.ack_outbox([m.id for m in batch])
        handled += len(batch)
    return handled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'orders.db'}"
        with open_store(url) as store:
            store.put_many(OrderFactory(seed=1).orders(args.orders))
            handles = [open_store(url) for _ in range(args.workers)]
            counts = [0] * args.workers

            def work(index: int) -> None:
                counts[index] = relay(handles[index])

            threads = [threading.Thread(target=work, args=(i,)) for i in range(args.workers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for handle in handles:
                handle.close()
            print("messages per worker:", counts)
            duplicates = sum(published.values()) - len(published)
            print("published:", len(published), "duplicates:", duplicates)
            print("still pending:", store.outbox_pending())


if __name__ == "__main__":
    main()
