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
