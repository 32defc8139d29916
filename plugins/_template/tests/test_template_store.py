"""The template plugin is found through its entry point and passes the store conformance suite."""

from __future__ import annotations

import pytest

import ordercore
from ordercore import plugins
from ordercore.errors import StoreURLError
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


def test_open_url_checks_the_store_against_the_protocol() -> None:
    """The registry loads TemplateStore, calls from_url and gets an OrderStore back."""
    plugins.reset()
    assert plugins.load("ordercore.storage", "template") is TemplateStore
    store = plugins.open_url("ordercore.storage", "Template://")
    assert type(store) is TemplateStore and isinstance(store, OrderStore)


def test_a_path_or_options_are_refused() -> None:
    """template:// takes no path and no options: both are a StoreURLError."""
    with pytest.raises(StoreURLError, match="no path or options"):
        ordercore.open_store("template://", timeout=3)
    with pytest.raises(StoreURLError, match="no path or options"):
        ordercore.open_store("template:///some/where")
