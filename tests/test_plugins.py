"""The plugin registry: lazy discovery, built-ins through the same door, hints, switches."""

from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import ordercore
from ordercore import plugins
from ordercore.errors import ConfigurationError, PluginLoadError, PluginNotFound
from ordercore.storage import MemoryStore, SQLiteStore


def _make_distribution(root: Path, name: str, entry_points: str, modules: dict[str, str]) -> None:
    """Write an installed-looking distribution (dist-info + modules) under ``root``."""
    info = root / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def fake_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path holding third-party plugin distributions."""
    monkeypatch.syspath_prepend(str(tmp_path))
    _make_distribution(
        tmp_path,
        "acme-orders",
        """
        [ordercore.storage]
        acme = acme_store:AcmeStore
        broken = acme_broken:Nothing

        [ordercore.notifiers]
        pager = acme_store:Pager
        """,
        {
            "acme_store": """
                from ordercore.storage import MemoryStore
                IMPORTED = True

                class AcmeStore(MemoryStore):
                    @classmethod
                    def from_url(cls, url, **options):
                        return cls(url)

                class Pager:
                    pass
            """,
            "acme_broken": "raise RuntimeError('acme_broken cannot start')\n",
        },
    )
    plugins.reset()
    yield tmp_path
    plugins.reset()
    for module in ("acme_store", "acme_broken"):
        sys.modules.pop(module, None)


class TestBuiltins:
    def test_builtin_stores_are_registered_like_plugins(self) -> None:
        """memory and sqlite are entries of ordercore.storage, marked as built in."""
        entries = {info.name: info for info in plugins.registered("ordercore.storage")}
        assert entries["memory"].builtin and entries["sqlite"].builtin
        assert entries["sqlite"].target == "ordercore.storage._sqlite:SQLiteStore"
        assert plugins.load("ordercore.storage", "memory") is MemoryStore
        assert plugins.load("ordercore.storage", "sqlite") is SQLiteStore

    def test_builtins_survive_disabling_third_party_plugins(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """ORDERCORE_DISABLE_PLUGINS switches off third parties, never ordercore's own entries."""
        monkeypatch.setenv("ORDERCORE_DISABLE_PLUGINS", "1")
        plugins.reset()
        try:
            assert plugins.load("ordercore.storage", "sqlite") is SQLiteStore
        finally:
            plugins.reset()


class TestDiscovery:
    def test_entry_points_are_found_without_importing_them(self, fake_site: Path) -> None:
        """Listing a group reads names from metadata only; the module is imported on load()."""
        names = {info.name: info for info in plugins.registered("ordercore.storage")}
        assert names["acme"].distribution == "acme-orders"
        assert names["acme"].target == "acme_store:AcmeStore"
        assert "acme_store" not in sys.modules
        store_class = plugins.load("ordercore.storage", "acme")
        assert store_class.__name__ == "AcmeStore"
        assert "acme_store" in sys.modules

    def test_open_store_uses_the_url_scheme(self, fake_site: Path) -> None:
        """acme://... opens the store the acme entry point names."""
        store = ordercore.open_store("acme://anything")
        assert type(store).__name__ == "AcmeStore"

    def test_a_broken_plugin_raises_plugin_load_error_naming_it(self, fake_site: Path) -> None:
        """A plugin whose import fails names the plugin, its distribution and the cause."""
        with pytest.raises(PluginLoadError) as caught:
            plugins.load("ordercore.storage", "broken")
        message = str(caught.value)
        assert "ordercore.storage:broken" in message
        assert "acme-orders" in message
        assert "cannot start" in message
        assert isinstance(caught.value.__cause__, RuntimeError)

    def test_a_broken_plugin_is_skipped_loudly_when_listing(
        self, fake_site: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """available() loads what works and logs a warning for what does not."""
        with caplog.at_level(logging.WARNING, logger="ordercore.plugins"):
            loaded = plugins.available("ordercore.storage")
        assert "acme" in loaded and "sqlite" in loaded
        assert "broken" not in loaded
        assert any("broken" in record.getMessage() for record in caplog.records)

    def test_import_ordercore_scans_nothing(self, fake_site: Path) -> None:
        """A broken plugin never breaks importing ordercore: import reads no entry points."""
        import importlib

        importlib.reload(ordercore)
        assert "acme_broken" not in sys.modules

    @pytest.mark.parametrize("setting", ["1", "all", "true", "acme", "ordercore.storage:acme"])
    def test_disable_switch(
        self, fake_site: Path, monkeypatch: pytest.MonkeyPatch, setting: str
    ) -> None:
        """ORDERCORE_DISABLE_PLUGINS=1/all or naming the plugin hides it, and the error says so."""
        monkeypatch.setenv("ORDERCORE_DISABLE_PLUGINS", setting)
        plugins.reset()
        with pytest.raises(PluginNotFound, match="ORDERCORE_DISABLE_PLUGINS"):
            plugins.load("ordercore.storage", "acme")

    def test_disabling_one_name_leaves_the_others(
        self, fake_site: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Naming one plugin leaves the rest of the distribution available."""
        monkeypatch.setenv("ORDERCORE_DISABLE_PLUGINS", "broken")
        plugins.reset()
        assert "broken" not in {i.name for i in plugins.registered("ordercore.storage")}
        assert plugins.load("ordercore.notifiers", "pager").__name__ == "Pager"


class TestMissing:
    def test_missing_known_plugin_names_the_package_to_install(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A backend we know the distribution of, when absent, gets a pip install hint."""
        monkeypatch.setenv("ORDERCORE_DISABLE_PLUGINS", "postgresql")
        plugins.reset()
        try:
            with pytest.raises(PluginNotFound) as caught:
                ordercore.open_store("postgresql://localhost/shop")
        finally:
            plugins.reset()
        assert caught.value.hint == "ordercore-postgres"
        assert "pip install ordercore-postgres" in str(caught.value)
        assert caught.value.plugin == "postgresql"
        assert isinstance(caught.value, LookupError)

    def test_unknown_names_get_no_invented_hint(self) -> None:
        """A channel nobody has packaged yet gets no install hint."""
        with pytest.raises(PluginNotFound) as caught:
            plugins.load("ordercore.connectors", "douyin")
        assert caught.value.hint is None
        assert "pip install" not in str(caught.value)

    def test_open_store_with_an_unknown_scheme(self) -> None:
        """A scheme nobody provides is PluginNotFound listing what is installed."""
        with pytest.raises(PluginNotFound) as caught:
            ordercore.open_store("cassandra://db/orders")
        assert "sqlite" in str(caught.value)
        assert caught.value.hint is None

    def test_unknown_group_is_a_configuration_error(self) -> None:
        """Only the five documented groups exist."""
        with pytest.raises(ConfigurationError, match=r"ordercore\.storage"):
            plugins.load("ordercore.stores", "sqlite")


class TestRegister:
    def test_register_an_object_for_the_duration_of_a_block(self) -> None:
        """register() adds an entry; leaving the with-block removes it again."""

        class Notifier:
            pass

        with plugins.register("ordercore.notifiers", "test-pager", Notifier):
            assert plugins.load("ordercore.notifiers", "test-pager") is Notifier
        with pytest.raises(PluginNotFound):
            plugins.load("ordercore.notifiers", "test-pager")

    def test_register_a_lazy_target_string(self) -> None:
        """A 'module:attribute' string is imported only when loaded."""
        with plugins.register("ordercore.storage", "lazy-mem", "ordercore.storage:MemoryStore"):
            info = {i.name: i for i in plugins.registered("ordercore.storage")}["lazy-mem"]
            assert info.target == "ordercore.storage:MemoryStore" and info.distribution is None
            assert plugins.load("ordercore.storage", "lazy-mem") is MemoryStore

    def test_register_does_not_silently_replace(self) -> None:
        """Taking an existing name needs replace=True; the override is undone on exit."""
        with pytest.raises(ConfigurationError, match="replace=True"):
            plugins.register("ordercore.storage", "sqlite", MemoryStore)
        with plugins.register("ordercore.storage", "sqlite", MemoryStore, replace=True):
            assert plugins.load("ordercore.storage", "sqlite") is MemoryStore
        assert plugins.load("ordercore.storage", "sqlite") is SQLiteStore
