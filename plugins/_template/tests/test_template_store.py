"""The template plugin is found through its entry point and passes the store conformance suite."""

from __future__ import annotations

import pytest

import ordercore
from ordercore import plugins
from ordercore.storage import OrderStore
from ordercore.testing import StoreConformance
from ordercore_template import TemplateStore


class TestTemplateStore(StoreConformance):
    @pytest.fixture
    def store(self) -> OrderStore:
        return ordercore.open_store("template://")


def test_open_store_finds_the_plugin_through_its_entry_point() -> None:
    """template:// resolves to TemplateStore, declared by the ordercore-template distribution."""
    plugins.reset()
    info = {i.name: i for i in plugins.registered("ordercore.storage")}["template"]
    assert info.distribution == "ordercore-template"
    assert info.target == "ordercore_template:TemplateStore"
    assert not info.builtin
    assert isinstance(ordercore.open_store("template://"), TemplateStore)
