"""The plugin registry: group descriptions, lazy discovery, open_url and its checks, hints."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import logging
import re
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

import ordercore
from ordercore import plugins
from ordercore.errors import (
    ConfigurationError,
    PluginLoadError,
    PluginNotFound,
    StoreURLError,
)
from ordercore.storage import MemoryStore, OrderStore, SQLiteStore

ROOT = Path(__file__).resolve().parent.parent


def _make_distribution(root: Path, name: str, entry_points: str, modules: dict[str, str]) -> None:
    """Write an installed-looking distribution (dist-info + modules) under ``root``."""
    info = root / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """Forget what the registry read before and after the test (for tests setting the env)."""
    plugins.reset()
    yield
    plugins.reset()


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
        nofactory = acme_store:NoFactory
        sqlite = acme_store:AcmeStore
        postgres = acme_store:AcmeStore

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

                class NoFactory(MemoryStore):
                    from_url = None

                class Pager:
                    @classmethod
                    def from_url(cls, url, **options):
                        return cls()

                    def notify(self, message):
                        pass
            """,
            "acme_broken": "raise RuntimeError('acme_broken cannot start')\n",
        },
    )
    plugins.reset()
    yield tmp_path
    plugins.reset()
    for module in ("acme_store", "acme_broken", "clash_store", "own_store"):
        sys.modules.pop(module, None)


def _pyproject(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        return tomllib.load(file)


class TestGroupDescriptions:
    def test_every_group_is_described_once_in_order(self) -> None:
        """GROUPS lists the six groups, and each has a PluginGroup of the same name."""
        assert plugins.GROUPS == (
            "ordercore.connectors",
            "ordercore.storage",
            "ordercore.inventory",
            "ordercore.allocation",
            "ordercore.scorers",
            "ordercore.notifiers",
        )
        for group in plugins.GROUPS:
            description = plugins.describe(group)
            assert isinstance(description, plugins.PluginGroup)
            assert description.name == group
            assert description.holds

    def test_describing_an_unknown_group_is_a_configuration_error(self) -> None:
        """describe() names the known groups when asked for one that does not exist."""
        with pytest.raises(ConfigurationError, match=r"ordercore\.storage"):
            plugins.describe("ordercore.stores")

    def test_descriptions_cannot_be_changed(self) -> None:
        """A description is frozen, and its tables are read-only."""
        storage = plugins.describe("ordercore.storage")
        with pytest.raises(dataclasses.FrozenInstanceError):
            storage.protocol = None  # type: ignore[misc]
        with pytest.raises(TypeError):
            storage.builtins["evil"] = "os:system"  # type: ignore[index]
        with pytest.raises(TypeError):
            storage.aliases["pg"] = "postgresql"  # type: ignore[index]
        assert hash(storage) == hash(plugins.describe("ordercore.storage"))

    def test_storage_is_checked_against_order_store_and_opened_with_from_url(self) -> None:
        """The storage group names its protocol lazily, its factory and its aliases."""
        storage = plugins.describe("ordercore.storage")
        assert storage.protocol == "ordercore.storage:OrderStore"
        assert storage.factory == "from_url" and storage.opens_urls
        assert dict(storage.aliases) == {"postgres": "postgresql"}
        assert storage.driver_suffix

    def test_groups_without_a_protocol_yet(self) -> None:
        """Connectors and scorers are not checked against a protocol yet."""
        for group in ("ordercore.connectors", "ordercore.scorers"):
            assert plugins.describe(group).protocol is None
        assert not plugins.describe("ordercore.connectors").opens_urls

    def test_inventory_and_allocation_name_their_protocols_and_built_ins(self) -> None:
        """Inventory backends open by URL (memory, sqlite); strategies are chosen by name."""
        inventory = plugins.describe("ordercore.inventory")
        assert inventory.protocol == "ordercore.inventory:InventoryBackend"
        assert inventory.factory == "from_url" and inventory.driver_suffix
        assert sorted(inventory.builtins) == ["memory", "sqlite"]
        assert inventory.name_for_url("postgres://db/shop") == "postgresql"
        allocation = plugins.describe("ordercore.allocation")
        assert allocation.protocol == "ordercore.inventory:AllocationStrategy"
        assert not allocation.opens_urls
        assert sorted(allocation.builtins) == ["priority", "region_priority", "single_location"]

    def test_notifiers_are_checked_against_notifier_and_opened_by_url(self) -> None:
        """The notifiers group names its protocol, factory, aliases and three built-ins."""
        notifiers = plugins.describe("ordercore.notifiers")
        assert notifiers.protocol == "ordercore.notify:Notifier"
        assert notifiers.factory == "from_url" and notifiers.driver_suffix
        assert dict(notifiers.aliases) == {"logging": "log", "wxwork": "wecom"}
        assert sorted(notifiers.builtins) == ["dingtalk", "log", "wecom"]
        assert notifiers.name_for_url("dingtalk+https://oapi.dingtalk.com/robot/send") == (
            "dingtalk"
        )

    def test_every_protocol_named_is_a_runtime_checkable_protocol(self) -> None:
        """Each protocol target imports to a class isinstance() can check with."""
        for group in plugins.GROUPS:
            target = plugins.describe(group).protocol
            if target is None:
                continue
            module, _, attribute = target.partition(":")
            protocol = getattr(importlib.import_module(module), attribute)
            assert getattr(protocol, "_is_runtime_protocol", False), target
            assert isinstance(object(), protocol) is False

    def test_a_malformed_target_is_refused(self) -> None:
        """A description whose protocol or built-in is not 'module:attribute' cannot be made."""
        with pytest.raises(ConfigurationError, match="module:attribute"):
            plugins.PluginGroup(name="x", holds="y", protocol="ordercore.storage.OrderStore")
        with pytest.raises(ConfigurationError, match="builtin 'm'"):
            plugins.PluginGroup(name="x", holds="y", builtins={"m": "ordercore.storage"})

    def test_plugins_imports_nothing_above_errors_at_import_time(self) -> None:
        """The module's top-level imports reach into ordercore only for ordercore.errors."""
        tree = ast.parse((ROOT / "src/ordercore/plugins.py").read_text(encoding="utf-8"))
        imported = set()
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
        assert {name for name in imported if name.split(".")[0] == "ordercore"} == {
            "ordercore.errors"
        }


class TestURLs:
    @pytest.mark.parametrize(
        ("url", "name"),
        [
            ("memory://", "memory"),
            ("sqlite:///orders.db", "sqlite"),
            ("SQLite:///orders.db", "sqlite"),
            ("postgresql://app@db/shop", "postgresql"),
            ("postgres://app@db/shop", "postgresql"),
            ("postgresql+psycopg://app@db/shop", "postgresql"),
            ("POSTGRES+asyncpg://db/shop", "postgresql"),
            ("acme.v2-x://", "acme.v2-x"),
        ],
    )
    def test_the_scheme_selects_the_plugin(self, url: str, name: str) -> None:
        """Case is ignored, +driver is dropped and aliases are resolved."""
        assert plugins.describe("ordercore.storage").name_for_url(url) == name

    @pytest.mark.parametrize(
        ("url", "problem"),
        [
            ("orders.db", "no scheme"),
            ("", "no scheme"),
            ("://db/shop", "no scheme"),
            ("sqlite:/orders.db", "no scheme"),
            ("1sqlite:///orders.db", "must start with a letter"),
            (" sqlite:///orders.db", "must start with a letter"),
            ("my_store://x", "must start with a letter"),
            ("sqlite:///orders\x00.db", "U+0000 at position 16"),
            ("sqlite:///orders.db\n", "U+000A at position 19"),
            ("sqlite:///a\x7fb", "U+007F"),
            ("sqlite:///a\x85b", "U+0085"),
        ],
    )
    def test_malformed_store_urls_are_store_url_errors(self, url: str, problem: str) -> None:
        """A store URL without a valid scheme or with a control character is a StoreURLError."""
        with pytest.raises(StoreURLError, match=re.escape(problem)) as caught:
            plugins.describe("ordercore.storage").name_for_url(url)
        assert caught.value.url == url

    @pytest.mark.parametrize("url", [None, 42, b"sqlite:///orders.db", Path("orders.db")])
    def test_a_store_url_must_be_a_string(self, url: object) -> None:
        """Bytes, paths and None are refused, naming the type given."""
        with pytest.raises(StoreURLError, match=f"got {type(url).__name__}"):
            plugins.open_url("ordercore.storage", url)  # type: ignore[arg-type]

    def test_the_message_never_repeats_the_url(self) -> None:
        """A URL missing its scheme may still carry a password: the message leaves it out."""
        with pytest.raises(StoreURLError) as caught:
            plugins.open_url("ordercore.storage", "app:s3cret-pw@db.internal/shop")
        assert "s3cret-pw" not in str(caught.value)
        assert "'sqlite:///orders.db' or 'memory://'" in str(caught.value)

    def test_other_groups_raise_configuration_errors_not_store_errors(self) -> None:
        """An inventory URL is not a store URL: its error is a plain ConfigurationError."""
        with pytest.raises(ConfigurationError, match="no scheme") as caught:
            plugins.open_url("ordercore.inventory", "stock.db")
        assert type(caught.value) is ConfigurationError

    def test_groups_chosen_by_name_are_not_opened_by_url(self) -> None:
        """open_url refuses a group whose plugin names are not URL schemes."""
        with pytest.raises(ConfigurationError, match="chosen by name"):
            plugins.open_url("ordercore.connectors", "douyin://shop")
        with pytest.raises(ConfigurationError, match="chosen by name"):
            plugins.describe("ordercore.scorers").name_for_url("pager://x")


class _Recording(MemoryStore):
    """A store that records how open_url called its factory."""

    calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    @classmethod
    def from_url(cls, url: str, **options: Any) -> _Recording:
        cls.calls.append((url, options))
        return cls(url)


class _HalfStore:
    """Has some of OrderStore's members and records being closed."""

    url = "half://"
    closed = False

    def get(self, order_id: str) -> None:
        return None

    def close(self) -> None:
        _HalfStore.closed = True


class TestOpenURL:
    def test_open_url_opens_a_builtin_store(self) -> None:
        """memory:// and sqlite:// open the built-in stores, which satisfy OrderStore."""
        memory = plugins.open_url("ordercore.storage", "memory://")
        assert type(memory) is MemoryStore and isinstance(memory, OrderStore)
        with plugins.open_url("ordercore.storage", "sqlite://", timeout=5) as sqlite:
            assert type(sqlite) is SQLiteStore and sqlite.count() == 0

    def test_the_whole_url_and_the_options_reach_from_url(self) -> None:
        """The plugin gets the original URL (with its driver and case) and every option."""
        _Recording.calls = []
        with plugins.register("ordercore.storage", "postgresql", _Recording, replace=True):
            store = plugins.open_url(
                "ordercore.storage", "Postgres+psycopg://app@db/shop", max_size=3
            )
        assert type(store) is _Recording
        assert _Recording.calls == [("Postgres+psycopg://app@db/shop", {"max_size": 3})]

    def test_a_plugin_without_from_url_names_what_is_missing(self, fake_site: Path) -> None:
        """The error names the group, the plugin, its distribution and the missing factory."""
        with pytest.raises(PluginLoadError) as caught:
            plugins.open_url("ordercore.storage", "nofactory://x")
        message = str(caught.value)
        assert "ordercore.storage:nofactory" in message
        assert "acme-orders" in message
        assert "NoFactory has no from_url" in message
        assert "ordercore.storage:OrderStore" in message
        assert (caught.value.group, caught.value.plugin) == ("ordercore.storage", "nofactory")

    def test_a_registered_object_without_from_url_is_refused_on_load(self) -> None:
        """register() entries are checked like installed ones, and say they came from register()."""

        class NotAStore:
            pass

        with (
            plugins.register("ordercore.storage", "nostore", NotAStore),
            pytest.raises(PluginLoadError) as caught,
        ):
            plugins.load("ordercore.storage", "nostore")
        message = str(caught.value)
        assert "from register()" in message
        assert "NotAStore has no from_url and lacks" in message
        assert "claim_outbox" in message and "put_many" in message

    def test_a_class_missing_protocol_methods_is_refused_before_from_url(self) -> None:
        """A store class lacking OrderStore methods fails on load, before it can connect."""
        opened: list[str] = []

        class Partial:
            @classmethod
            def from_url(cls, url: str, **options: Any) -> None:
                opened.append(url)

            def get(self, order_id: str) -> None:
                return None

        with (
            plugins.register("ordercore.storage", "partial", Partial),
            pytest.raises(PluginLoadError, match=r"Partial lacks .*claim_outbox"),
        ):
            plugins.open_url("ordercore.storage", "partial://")
        assert opened == []

    def test_what_from_url_returns_must_satisfy_the_protocol(self) -> None:
        """A factory returning a non-store is a PluginLoadError; the object is closed first."""
        _HalfStore.closed = False
        factory = SimpleNamespace(from_url=lambda url, **options: _HalfStore())
        with (
            plugins.register("ordercore.storage", "half", factory),
            pytest.raises(PluginLoadError) as caught,
        ):
            plugins.open_url("ordercore.storage", "half://")
        message = str(caught.value)
        assert "ordercore.storage:half from register()" in message
        assert "from_url() returned a _HalfStore" in message
        assert "does not satisfy ordercore.storage:OrderStore" in message
        assert "claim_outbox" in message and ", get," not in message
        assert _HalfStore.closed

    def test_what_from_url_returns_is_checked_against_the_protocol(self) -> None:
        """An inventory factory returning something that is not a backend is refused by name."""
        sentinel = object()
        factory = SimpleNamespace(from_url=lambda url, **options: (sentinel, url, options))
        with (
            plugins.register("ordercore.inventory", "stock", factory),
            pytest.raises(PluginLoadError, match=r"InventoryBackend: it has no close"),
        ):
            plugins.open_url("ordercore.inventory", "stock+redis://r/0", ttl=5)

    def test_a_group_without_a_protocol_still_needs_the_factory(self) -> None:
        """An inventory plugin without from_url cannot be opened by URL."""
        with (
            plugins.register("ordercore.inventory", "stock", object()),
            pytest.raises(PluginLoadError, match="has no from_url"),
        ):
            plugins.load("ordercore.inventory", "stock")

    def test_available_leaves_out_plugins_that_fail_the_check(
        self, fake_site: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A plugin without from_url is logged and left out of available(), like a broken one."""
        with caplog.at_level(logging.WARNING, logger="ordercore.plugins"):
            loaded = plugins.available("ordercore.storage")
        assert "acme" in loaded and "nofactory" not in loaded
        assert any("nofactory" in record.getMessage() for record in caplog.records)

    def test_an_unknown_scheme_is_plugin_not_found(self) -> None:
        """A scheme nobody provides is PluginNotFound listing what is installed."""
        with pytest.raises(PluginNotFound) as caught:
            plugins.open_url("ordercore.inventory", "cassandra://db/stock")
        assert caught.value.group == "ordercore.inventory"
        assert caught.value.plugin == "cassandra" and caught.value.hint is None


class TestBuiltins:
    def test_builtin_stores_are_registered_like_plugins(self) -> None:
        """memory and sqlite are entries of ordercore.storage, marked as built in."""
        entries = {info.name: info for info in plugins.registered("ordercore.storage")}
        assert entries["memory"].builtin and entries["sqlite"].builtin
        assert entries["sqlite"].distribution == "ordercore-oms"
        assert entries["sqlite"].target == "ordercore.storage._sqlite:SQLiteStore"
        assert plugins.load("ordercore.storage", "memory") is MemoryStore
        assert plugins.load("ordercore.storage", "sqlite") is SQLiteStore

    def test_the_builtins_are_those_of_the_description(self) -> None:
        """Every group's built-in entries are exactly the ones its description declares."""
        for group in plugins.GROUPS:
            builtins = {i.name: i.target for i in plugins.registered(group) if i.builtin}
            assert builtins == dict(plugins.describe(group).builtins)

    def test_ordercore_metadata_does_not_declare_them_a_second_time(self) -> None:
        """pyproject.toml declares no entry points in ordercore's groups: the code is the source."""
        declared = _pyproject(ROOT / "pyproject.toml")["project"].get("entry-points", {})
        assert sorted(set(declared) & set(plugins.GROUPS)) == []

    def test_entry_points_of_ordercore_itself_are_ignored(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
    ) -> None:
        """Metadata of ordercore-oms (any spelling) adds nothing and replaces no built-in."""
        monkeypatch.syspath_prepend(str(tmp_path))
        _make_distribution(
            tmp_path,
            "OrderCore_OMS",
            """
            [ordercore.storage]
            memory = own_store:Other
            ghost = own_store:Other
            """,
            {"own_store": "class Other:\n    pass\n"},
        )
        entries = {info.name: info for info in plugins.registered("ordercore.storage")}
        assert "ghost" not in entries
        assert entries["memory"].target == "ordercore.storage._memory:MemoryStore"

    def test_a_third_party_entry_point_cannot_take_a_builtin_name(
        self, fake_site: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """acme's 'sqlite' entry is ignored with a warning; the built-in stays."""
        with caplog.at_level(logging.WARNING, logger="ordercore.plugins"):
            info = {i.name: i for i in plugins.registered("ordercore.storage")}["sqlite"]
        assert info.builtin and plugins.load("ordercore.storage", "sqlite") is SQLiteStore
        assert any(
            "sqlite" in r.getMessage() and "acme-orders" in r.getMessage() for r in caplog.records
        )

    def test_builtins_survive_disabling_third_party_plugins(
        self, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
    ) -> None:
        """ORDERCORE_DISABLE_PLUGINS switches off third parties, never ordercore's own entries."""
        monkeypatch.setenv("ORDERCORE_DISABLE_PLUGINS", "1")
        assert plugins.load("ordercore.storage", "sqlite") is SQLiteStore
        assert "template" not in {i.name for i in plugins.registered("ordercore.storage")}


class TestDistributionNames:
    @pytest.fixture
    def clash(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        """The unrelated 'ordercore' distribution, installed, declaring a store."""
        monkeypatch.syspath_prepend(str(tmp_path))
        _make_distribution(
            tmp_path,
            "OrderCore",
            """
            [ordercore.storage]
            clash = clash_store:ClashStore
            """,
            {"clash_store": "class ClashStore:\n    pass\n"},
        )
        plugins.reset()
        yield
        plugins.reset()
        sys.modules.pop("clash_store", None)

    def test_entry_points_of_the_unrelated_ordercore_distribution_are_skipped(
        self, clash: None, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A distribution named 'ordercore' (any spelling) is not ours: warned about, skipped."""
        with caplog.at_level(logging.WARNING, logger="ordercore.plugins"):
            names = {i.name for i in plugins.registered("ordercore.storage")}
        assert "clash" not in names and "memory" in names
        warnings = [r.getMessage() for r in caplog.records if "clash" in r.getMessage()]
        assert len(warnings) == 1
        assert "'OrderCore'" in warnings[0] and "unrelated project" in warnings[0]
        assert "reinstall ordercore-oms" in warnings[0]
        with pytest.raises(PluginNotFound):
            plugins.load("ordercore.storage", "clash")

    def test_conflicting_distributions_names_it(self, clash: None) -> None:
        """conflicting_distributions() returns the normalised name of the clashing distribution."""
        assert plugins.conflicting_distributions() == ["ordercore"]

    def test_no_conflicting_distribution_in_this_environment(self) -> None:
        """Only ordercore-oms and its plugins are installed here: nothing clashes."""
        assert plugins.conflicting_distributions() == []


class TestDiscovery:
    def test_entry_points_are_found_without_importing_them(self, fake_site: Path) -> None:
        """Listing a group reads names from metadata only; the module is imported on load()."""
        names = {info.name: info for info in plugins.registered("ordercore.storage")}
        assert names["acme"].distribution == "acme-orders"
        assert names["acme"].target == "acme_store:AcmeStore"
        assert not names["acme"].builtin
        assert "acme_store" not in sys.modules
        store_class = plugins.load("ordercore.storage", "acme")
        assert store_class.__name__ == "AcmeStore"
        assert "acme_store" in sys.modules

    def test_open_url_uses_the_url_scheme(self, fake_site: Path) -> None:
        """acme://... opens the store the acme entry point names."""
        store = plugins.open_url("ordercore.storage", "acme://anything")
        assert type(store).__name__ == "AcmeStore" and store.url == "acme://anything"

    def test_open_store_uses_the_url_scheme(self, fake_site: Path) -> None:
        """ordercore.open_store goes through the same registry."""
        store = ordercore.open_store("acme://anything")
        assert type(store).__name__ == "AcmeStore"

    def test_an_entry_point_named_like_an_alias_is_ignored(
        self, fake_site: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """'postgres' always means 'postgresql', so an entry point of that name is never used."""
        with caplog.at_level(logging.WARNING, logger="ordercore.plugins"):
            entries = {i.name: i for i in plugins.registered("ordercore.storage")}
        assert "postgres" not in entries
        assert entries["postgresql"].distribution == "ordercore-postgres"
        assert any("alias of 'postgresql'" in r.getMessage() for r in caplog.records)

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

    def test_disabling_by_an_alias_disables_the_plugin(
        self, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
    ) -> None:
        """ORDERCORE_DISABLE_PLUGINS=postgres switches off the postgresql entry."""
        monkeypatch.setenv("ORDERCORE_DISABLE_PLUGINS", "postgres")
        assert "postgresql" not in {i.name for i in plugins.registered("ordercore.storage")}


class TestAliases:
    def test_load_resolves_an_alias(self) -> None:
        """load('ordercore.storage', 'postgres') is the postgresql entry."""
        with plugins.register("ordercore.storage", "postgresql", _Recording, replace=True):
            assert plugins.load("ordercore.storage", "postgres") is _Recording

    def test_an_alias_cannot_be_registered(self) -> None:
        """Registering under an alias would never be reached, so it is refused."""
        with pytest.raises(ConfigurationError, match="alias of 'postgresql'"):
            plugins.register("ordercore.storage", "postgres", _Recording)


class TestInstallHints:
    def test_a_hint_says_how_to_install_now_and_once_published(self) -> None:
        """The hint names the distribution and the directory of this repository it is built from."""
        storage = plugins.describe("ordercore.storage")
        expected = (
            "install it with `pip install ordercore-postgres` once published, or from a clone "
            "of ordercore: `pip install -e plugins/ordercore-postgres`"
        )
        assert storage.install_hint("postgresql") == expected
        assert storage.install_hint("postgres") == expected
        assert storage.install_hint("cassandra") is None

    def test_every_hint_is_a_distribution_built_from_this_repository(self) -> None:
        """Each hinted distribution is plugins/<name>/ and declares the hinted entry point."""
        built = {}
        for path in sorted(ROOT.glob("plugins/*/pyproject.toml")):
            built[_pyproject(path)["project"]["name"]] = path.parent
        hinted = 0
        for group in plugins.GROUPS:
            for name, distribution in plugins.describe(group).hints.items():
                hinted += 1
                assert distribution in built, f"{group}:{name} -> {distribution}"
                assert built[distribution].name == distribution
                declared = _pyproject(built[distribution] / "pyproject.toml")["project"]
                assert name in declared["entry-points"][group]
                assert distribution.split("-")[0] == "ordercore" and distribution != "ordercore"
        assert hinted >= 1

    def test_missing_known_plugin_names_the_package_to_install(
        self, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
    ) -> None:
        """A backend we know the distribution of, when absent, gets the install hint."""
        monkeypatch.setenv("ORDERCORE_DISABLE_PLUGINS", "postgresql")
        with pytest.raises(PluginNotFound) as caught:
            plugins.open_url("ordercore.storage", "postgres+psycopg://localhost/shop")
        assert caught.value.hint == "ordercore-postgres"
        assert "pip install ordercore-postgres` once published" in str(caught.value)
        assert "pip install -e plugins/ordercore-postgres" in str(caught.value)
        assert "(note: ORDERCORE_DISABLE_PLUGINS is set)" in str(caught.value)
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
            plugins.open_url("ordercore.storage", "cassandra://db/orders")
        assert "sqlite" in str(caught.value)
        assert caught.value.hint is None

    def test_unknown_group_is_a_configuration_error(self) -> None:
        """Only the five documented groups exist."""
        with pytest.raises(ConfigurationError, match=r"ordercore\.storage"):
            plugins.load("ordercore.stores", "sqlite")
        with pytest.raises(ConfigurationError, match=r"ordercore\.storage"):
            plugins.open_url("ordercore.stores", "sqlite://")


class TestRegister:
    def test_register_an_object_for_the_duration_of_a_block(self) -> None:
        """register() adds an entry; leaving the with-block removes it again."""

        class Notifier:
            @classmethod
            def from_url(cls, url: str, **options: Any) -> Notifier:
                return cls()

            def notify(self, message: object) -> None:
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


class TestDocs:
    def test_the_groups_table_matches_the_descriptions(self) -> None:
        """docs/plugins.md has a row per group naming its protocol, built-ins and hints."""
        text = (ROOT / "docs/plugins.md").read_text(encoding="utf-8")
        rows = {
            line.split("|")[1].strip().strip("`"): line
            for line in text.splitlines()
            if line.startswith("| `ordercore.")
        }
        assert sorted(rows) == sorted(plugins.GROUPS)
        for group in plugins.GROUPS:
            description, row = plugins.describe(group), rows[group]
            if description.protocol is None:
                assert "not checked yet" in row
            else:
                assert f"`{description.protocol}`" in row
            for name in description.builtins:
                assert f"`{name}`" in row
            for name, distribution in description.hints.items():
                assert f"`{name}`: `{distribution}`" in row
            for alias, name in description.aliases.items():
                assert f"`{alias}` means `{name}`" in row
            assert ("chosen by name" in row) is not description.opens_urls

    def test_the_guide_covers_open_url_the_switch_and_the_name_clash(self) -> None:
        """The guide documents open_url, the disable variable and the clash helper."""
        text = (ROOT / "docs/plugins.md").read_text(encoding="utf-8")
        for needle in (
            "plugins.open_url(group, url, **options)",
            plugins.DISABLE_ENV,
            "plugins.conflicting_distributions()",
            "`ordercore-oms>=X.Y,<X.(Y+1)`",
            "pip index versions NAME",
        ):
            assert needle in text, needle
