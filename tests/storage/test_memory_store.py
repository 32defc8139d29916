"""The memory store passes the store conformance suite."""

from __future__ import annotations

import pytest

from ordercore import open_store
from ordercore.storage import MemoryStore, OrderStore
from ordercore.testing import StoreConformance


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store(self) -> OrderStore:
        return open_store("memory://")


def test_memory_url_takes_no_path_or_options() -> None:
    """memory:// is the whole URL; anything more is a StoreURLError."""
    from ordercore.errors import StoreURLError

    assert isinstance(open_store("memory://"), MemoryStore)
    with pytest.raises(StoreURLError):
        open_store("memory://somewhere")
    with pytest.raises(StoreURLError):
        open_store("memory://", timeout=3)


def test_the_created_payload_equals_the_generic_one() -> None:
    """The hand-written creation payload is exactly what the generic path writes."""
    import json

    from ordercore.schema import Actor, ActorKind
    from ordercore.storage.kit import BaseStore, Change
    from ordercore.testing import OrderFactory

    actor = Actor(kind=ActorKind.CONNECTOR, id='douyin "live" 直播')
    order = OrderFactory(seed=12).order(channel_order_id='id "quoted" \\ 订单')
    change = BaseStore.new_change(order, (), actor)
    stored = change.order
    text = change.outbox_json
    event = json.loads(text)["events"][0]
    generic = Change.with_events(stored, "order.created", [event])
    assert json.loads(text) == json.loads(generic.outbox_json)
    assert event["actor"] == {"kind": "connector", "id": 'douyin "live" 直播'}
    assert event["data"]["channel_order_id"] == 'id "quoted" \\ 订单'
    assert event["to_status"] == order.status.value
    assert event["order_version"] == 1
    assert change.event_id == event["event_id"] == generic.event_id
