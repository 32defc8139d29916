"""The plugin registry: names in entry-point groups, resolved lazily.

Channels, storage engines, inventory backends, image scorers and notifiers are
plugins. A plugin distribution declares an entry point in one of :data:`GROUPS`::

    [project.entry-points."ordercore.storage"]
    postgresql = "ordercore_postgres:PostgresStore"

Each group is described once, by a :class:`PluginGroup` (see :func:`describe`):
what it holds, the protocol its plugins satisfy, how a URL picks one of them,
ordercore's own built-ins and which distributions to install for known names.

Nothing is imported when ``ordercore`` is imported. The first :func:`load` of a
group reads that group's entry-point *names* from the installed metadata; the
target is imported only when that name is loaded, and then checked against the
group's protocol. ordercore's built-ins (the memory and SQLite stores) are
declared in their group's description and listed, loaded and checked through
the same door as third-party entry points.

A plugin that fails to import, or does not provide what its group requires,
raises :class:`~ordercore.errors.PluginLoadError` when asked for by name, and is
logged and skipped when listing; it never breaks ``import ordercore``. Set
``ORDERCORE_DISABLE_PLUGINS=1`` (or ``all``) to ignore every third-party entry
point, or to a comma-separated list of names (``postgresql,acme``) or
``group:name`` pairs to ignore only those. Code and tests can add or override
entries with :func:`register`.

Example:
    >>> from ordercore import plugins
    >>> plugins.load("ordercore.storage", "memory").__name__
    'MemoryStore'
    >>> type(plugins.open_url("ordercore.storage", "memory://")).__name__
    'MemoryStore'
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import distributions, entry_points
from types import MappingProxyType
from typing import Any, Final

from ordercore.errors import ConfigurationError, PluginLoadError, PluginNotFound, StoreURLError

__all__ = [
    "DISABLE_ENV",
    "GROUPS",
    "PluginGroup",
    "PluginInfo",
    "available",
    "conflicting_distributions",
    "describe",
    "load",
    "open_url",
    "register",
    "registered",
    "reset",
]

logger = logging.getLogger("ordercore.plugins")

DISABLE_ENV: Final = "ORDERCORE_DISABLE_PLUGINS"

#: The distribution ordercore itself is published as (PEP 503 normalised).
_CORE_DISTRIBUTION: Final = "ordercore-oms"

#: Distributions that install a top-level ``ordercore`` module of their own.
#: ``ordercore`` on PyPI is an unrelated project; its entry points are never ours.
_CONFLICTING_DISTRIBUTIONS: Final = frozenset({"ordercore"})

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SEPARATORS = re.compile(r"[-_.]+")


def _normalise(distribution: str) -> str:
    """A distribution name as PEP 503 compares it (``Ordercore_OMS`` -> ``ordercore-oms``)."""
    return _SEPARATORS.sub("-", distribution).lower()


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class PluginGroup:
    """What one entry-point group holds and what its plugins must provide.

    Attributes:
        name: The entry-point group, e.g. ``ordercore.storage``.
        holds: What the group's plugins are and what their names mean.
        protocol: ``"module:attribute"`` of the runtime-checkable protocol the
            objects a plugin produces must satisfy, imported only when a plugin is
            checked; ``None`` while the group's protocol is not written yet.
        factory: The callable every loaded plugin provides to open one from a URL
            (``from_url(url, **options)``); ``None`` for groups chosen by name,
            which :func:`open_url` does not open.
        aliases: Other spellings of a plugin name (``postgres`` -> ``postgresql``).
        driver_suffix: Whether ``scheme+driver://`` selects the ``scheme`` plugin
            (the part after ``+`` is left for the plugin to read).
        url_examples: URLs quoted in error messages about malformed URLs.
        builtins: ordercore's own plugins, name -> ``"module:attribute"``. This is
            the only place they are declared.
        hints: Plugin name -> the distribution of this repository that provides it
            (built from ``plugins/<distribution>/``), for "how to install" messages.

    Example:
        >>> from ordercore import plugins
        >>> storage = plugins.describe("ordercore.storage")
        >>> storage.protocol
        'ordercore.storage:OrderStore'
        >>> storage.name_for_url("postgres+psycopg://db.internal/shop")
        'postgresql'
        >>> storage.hints["postgresql"]
        'ordercore-postgres'
    """

    name: str
    holds: str
    protocol: str | None = None
    factory: str | None = None
    aliases: Mapping[str, str] = field(default_factory=dict, hash=False)
    driver_suffix: bool = False
    url_examples: tuple[str, ...] = ()
    builtins: Mapping[str, str] = field(default_factory=dict, hash=False)
    hints: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for attribute in ("aliases", "builtins", "hints"):
            object.__setattr__(self, attribute, _frozen_mapping(getattr(self, attribute)))
        targets = [("protocol", self.protocol)] if self.protocol is not None else []
        targets += [(f"builtin {name!r}", target) for name, target in self.builtins.items()]
        for what, target in targets:
            module, sep, attribute = target.partition(":")
            if not (module and sep and attribute):
                raise ConfigurationError(
                    f"{self.name}: {what} must be 'module:attribute', got {target!r}"
                )
        for alias, canonical in self.aliases.items():
            if canonical in self.aliases or alias in self.builtins:
                raise ConfigurationError(
                    f"{self.name}: alias {alias!r} must name a plugin, not another alias "
                    "or a built-in"
                )

    @property
    def opens_urls(self) -> bool:
        """Whether plugin names are URL schemes and :func:`open_url` opens the group's plugins."""
        return self.factory is not None

    def canonical(self, name: str) -> str:
        """Return the plugin name ``name`` stands for (an alias resolved, else ``name``)."""
        return self.aliases.get(name, name)

    def spellings(self, name: str) -> frozenset[str]:
        """Return ``name`` and every alias of it."""
        return frozenset({name, *(a for a, c in self.aliases.items() if c == name)})

    def name_for_url(self, url: object) -> str:
        """Return the plugin name a URL selects.

        The scheme is compared case-insensitively; with :attr:`driver_suffix`,
        ``scheme+driver`` selects ``scheme``; aliases are resolved.

        Args:
            url: A URL such as ``postgresql+psycopg://app@db/shop``.

        Returns:
            The plugin name, e.g. ``postgresql``.

        Raises:
            StoreURLError: (for ``ordercore.storage``; a ``ConfigurationError``
                for other groups) ``url`` is not a string, holds a NUL or another
                control character, or has no valid ``scheme://``. The message never
                repeats the URL, which may hold a password.
            ConfigurationError: the group's plugins are chosen by name, not URL.
        """
        if not self.opens_urls:
            raise _not_opened_by_url(self)
        if not isinstance(url, str):
            raise self._url_error(
                f"a URL for {self.name} must be a string, got {type(url).__name__}",
                str(url)[:200],
            )
        control = _CONTROL.search(url)
        if control is not None:
            raise self._url_error(
                f"the URL for {self.name} contains the control character "
                f"U+{ord(control.group()):04X} at position {control.start()}",
                url,
            )
        scheme, sep, _ = url.partition("://")
        examples = " or ".join(repr(example) for example in self.url_examples)
        looks_like = f"; {self.name} URLs look like {examples}" if examples else ""
        if not sep or not scheme:
            raise self._url_error(
                f"the URL for {self.name} has no scheme (nothing before '://'){looks_like}", url
            )
        if _SCHEME.match(scheme) is None:
            raise self._url_error(
                f"the scheme of the URL for {self.name} (before '://') must start with a letter "
                f"and hold only letters, digits, '+', '-' and '.'{looks_like}",
                url,
            )
        name = scheme.lower()
        if self.driver_suffix:
            name = name.partition("+")[0]
        return self.canonical(name)

    def install_hint(self, name: str) -> str | None:
        """Return how to install the plugin ``name`` (or an alias of it), or ``None`` if unknown.

        Example:
            >>> from ordercore import plugins
            >>> hint = plugins.describe("ordercore.storage").install_hint("postgres")
            >>> hint.split(", or ")[1]
            'from a clone of ordercore: `pip install -e plugins/ordercore-postgres`'
        """
        distribution = self.hints.get(self.canonical(name))
        if distribution is None:
            return None
        return (
            f"install it with `pip install {distribution}` once published, or from a clone "
            f"of ordercore: `pip install -e plugins/{distribution}`"
        )

    def _url_error(self, message: str, url: str) -> ConfigurationError:
        if self.name == "ordercore.storage":
            return StoreURLError(message, url=url)
        return ConfigurationError(message)


def _not_opened_by_url(description: PluginGroup) -> ConfigurationError:
    return ConfigurationError(
        f"{description.name} plugins are chosen by name; they are not opened from a URL"
    )


_DESCRIPTIONS: Final[Mapping[str, PluginGroup]] = MappingProxyType(
    {
        group.name: group
        for group in (
            PluginGroup(
                name="ordercore.connectors",
                holds="sales-channel connectors, one per channel name (douyin, jd, ...)",
            ),
            PluginGroup(
                name="ordercore.storage",
                holds="order stores, one per URL scheme",
                protocol="ordercore.storage:OrderStore",
                factory="from_url",
                aliases={"postgres": "postgresql"},
                driver_suffix=True,
                url_examples=("sqlite:///orders.db", "memory://"),
                builtins={
                    "memory": "ordercore.storage._memory:MemoryStore",
                    "sqlite": "ordercore.storage._sqlite:SQLiteStore",
                },
                hints={"postgresql": "ordercore-postgres"},
            ),
            PluginGroup(
                name="ordercore.inventory",
                holds="stock-level backends, one per URL scheme",
                protocol="ordercore.inventory:InventoryBackend",
                factory="from_url",
                aliases={"postgres": "postgresql"},
                driver_suffix=True,
                url_examples=("sqlite:///shop.db", "memory://"),
                builtins={
                    "memory": "ordercore.inventory._memory:MemoryInventoryBackend",
                    "sqlite": "ordercore.inventory._sqlite:SQLiteInventoryBackend",
                },
                hints={"postgresql": "ordercore-postgres"},
            ),
            PluginGroup(
                name="ordercore.allocation",
                holds="stock allocation strategies, one per strategy name",
                protocol="ordercore.inventory:AllocationStrategy",
                builtins={
                    "priority": "ordercore.inventory._allocation:PriorityStrategy",
                    "region_priority": "ordercore.inventory._allocation:RegionPriorityStrategy",
                    "single_location": "ordercore.inventory._allocation:SingleLocationStrategy",
                },
            ),
            PluginGroup(
                name="ordercore.scorers",
                holds="image scorers for returned goods, one per scorer name",
            ),
            PluginGroup(
                name="ordercore.notifiers",
                holds="notification senders, one per URL scheme",
                protocol="ordercore.notify:Notifier",
                factory="from_url",
                aliases={"logging": "log", "wxwork": "wecom"},
                driver_suffix=True,
                url_examples=("log://", "dingtalk://?access_token=TOKEN", "wecom://?key=KEY"),
                builtins={
                    "dingtalk": "ordercore.notify._dingtalk:DingTalkNotifier",
                    "log": "ordercore.notify._log:LogNotifier",
                    "wecom": "ordercore.notify._wecom:WeComNotifier",
                },
            ),
        )
    }
)

GROUPS: Final[tuple[str, ...]] = tuple(_DESCRIPTIONS)


@dataclass(frozen=True)
class PluginInfo:
    """One entry of the registry.

    Attributes:
        group: The entry-point group.
        name: The name within the group (a URL scheme for stores).
        target: ``"module:attribute"`` or ``None`` when registered as an object.
        distribution: The distribution that declared it (``None`` for :func:`register`).
        builtin: Whether it ships with ordercore itself.
    """

    group: str
    name: str
    target: str | None
    distribution: str | None
    builtin: bool


@dataclass
class _Entry:
    info: PluginInfo
    loader: Callable[[], Any]
    loaded: Any = None
    done: bool = False


_lock = threading.RLock()
_discovered: dict[str, dict[str, _Entry]] = {}
_overrides: dict[str, dict[str, _Entry]] = {}


def describe(group: str) -> PluginGroup:
    """Return the description of ``group``.

    Raises:
        ConfigurationError: ``group`` is not one of :data:`GROUPS`.
    """
    description = _DESCRIPTIONS.get(group)
    if description is None:
        raise ConfigurationError(
            f"unknown plugin group {group!r}; the groups are {', '.join(GROUPS)}"
        )
    return description


def conflicting_distributions() -> list[str]:
    """Return the installed distributions that clash with ordercore, normalised and sorted.

    ``ordercore`` on PyPI is an unrelated project that also installs a top-level
    ``ordercore`` module: with it installed, ``import ordercore`` may load its files
    instead of ours (ordercore itself is published as ``ordercore-oms``). The
    registry already ignores the entry points such a distribution declares; this
    lets a command or an application warn about it and suggest
    ``pip uninstall ordercore`` followed by reinstalling ``ordercore-oms``.

    Returns:
        ``["ordercore"]`` when the clashing distribution is installed, else ``[]``.
    """
    found = set()
    for dist in distributions():
        name = dist.metadata["Name"]
        if isinstance(name, str) and _normalise(name) in _CONFLICTING_DISTRIBUTIONS:
            found.add(_normalise(name))
    return sorted(found)


def _disabled() -> tuple[bool, frozenset[str]]:
    """Return (all third-party plugins disabled, names disabled)."""
    value = os.environ.get(DISABLE_ENV, "").strip()
    if value.lower() in {"1", "true", "yes", "all", "*"}:
        return True, frozenset()
    if value.lower() in {"", "0", "false", "no"}:
        return False, frozenset()
    return False, frozenset(part.strip() for part in value.split(",") if part.strip())


def _is_disabled(description: PluginGroup, name: str) -> bool:
    all_off, names_off = _disabled()
    if all_off:
        return True
    spellings = description.spellings(description.canonical(name))
    return any(s in names_off or f"{description.name}:{s}" in names_off for s in spellings)


def _import_target(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attribute.split(".")):
        obj = getattr(obj, part)
    return obj


def _discover(description: PluginGroup) -> dict[str, _Entry]:
    """Read the names in a group from its description and installed metadata (imports nothing)."""
    group = description.name
    found: dict[str, _Entry] = {}
    for name, target in description.builtins.items():
        info = PluginInfo(group, name, target, _CORE_DISTRIBUTION, builtin=True)
        found[name] = _Entry(info, functools.partial(_import_target, target))
    try:
        declared: Iterable[Any] = entry_points(group=group)
    except Exception:  # pragma: no cover - broken metadata must not break ordercore
        logger.exception("could not read entry points of %s", group)
        declared = ()
    for ep in declared:
        distribution = ep.dist.name if ep.dist is not None else None
        normalised = _normalise(distribution) if isinstance(distribution, str) else None
        if normalised == _CORE_DISTRIBUTION:
            continue  # ordercore's own entries are the built-ins of the description
        if normalised in _CONFLICTING_DISTRIBUTIONS:
            logger.warning(
                "ignoring %s:%s declared by the distribution %r, an unrelated project that also "
                "installs a top-level 'ordercore' module; uninstall it (pip uninstall %s) and "
                "reinstall ordercore-oms",
                group,
                ep.name,
                distribution,
                distribution,
            )
            continue
        if _is_disabled(description, ep.name):
            logger.info("plugin %s:%s disabled by %s", group, ep.name, DISABLE_ENV)
            continue
        if ep.name in description.aliases:
            logger.warning(
                "ignoring %s:%s declared by %s: %r is an alias of %r; declare the entry point "
                "as %r",
                group,
                ep.name,
                distribution,
                ep.name,
                description.aliases[ep.name],
                description.aliases[ep.name],
            )
            continue
        if ep.name in found:
            taken = found[ep.name].info
            logger.warning(
                "plugin %s:%s is declared by both %s and %s; using %s",
                group,
                ep.name,
                "ordercore (built in)" if taken.builtin else taken.distribution,
                distribution,
                "the built-in" if taken.builtin else "the first",
            )
            continue
        info = PluginInfo(group, ep.name, ep.value, distribution, builtin=False)
        found[ep.name] = _Entry(info, ep.load)
    return found


def _entries(group: str) -> dict[str, _Entry]:
    description = describe(group)
    with _lock:
        if group not in _discovered:
            _discovered[group] = _discover(description)
        merged = dict(_discovered[group])
        merged.update(_overrides.get(group, {}))
        return merged


def registered(group: str) -> list[PluginInfo]:
    """List what is registered in ``group``, without importing anything.

    Raises:
        ConfigurationError: ``group`` is not one of :data:`GROUPS`.
    """
    return sorted((e.info for e in _entries(group).values()), key=lambda i: i.name)


_TYPING_INTERNALS: Final = frozenset(
    {
        "__abstractmethods__",
        "__annotations__",
        "__class_getitem__",
        "__dict__",
        "__doc__",
        "__init__",
        "__module__",
        "__new__",
        "__non_callable_proto_members__",
        "__orig_bases__",
        "__orig_class__",
        "__parameters__",
        "__protocol_attrs__",
        "__slots__",
        "__subclasshook__",
        "__type_params__",
        "__weakref__",
        "__firstlineno__",
        "__static_attributes__",
        "_is_protocol",
        "_is_runtime_protocol",
    }
)


def _protocol_members(protocol: type) -> list[str]:
    """The attribute names a runtime-checkable protocol's isinstance() looks for."""
    members = getattr(protocol, "__protocol_attrs__", None)
    if members is None:  # Python 3.11 computes them on every check and does not keep them
        members = set()
        for base in protocol.__mro__[:-1]:
            if base.__name__ in {"Protocol", "Generic"}:
                continue
            names = [*base.__dict__, *getattr(base, "__annotations__", {})]
            members.update(n for n in names if not n.startswith("_abc_"))
    return sorted(set(members) - _TYPING_INTERNALS)


def _source(info: PluginInfo) -> str:
    if info.builtin:
        return "ordercore (built in)"
    return info.distribution or "register()"


def _missing_from_class(description: PluginGroup, obj: Any) -> list[str]:
    """What a loaded plugin lacks for its group: the factory, and protocol methods of a class."""
    missing: list[str] = []
    if description.factory is not None and not callable(getattr(obj, description.factory, None)):
        missing.append(f"has no {description.factory}")
    if description.protocol is not None and isinstance(obj, type):
        protocol = _import_target(description.protocol)
        methods = [
            name
            for name in _protocol_members(protocol)
            if callable(getattr(protocol, name, None)) and not callable(getattr(obj, name, None))
        ]
        if methods:
            missing.append(f"lacks {', '.join(methods)}")
    return missing


def _load_entry(description: PluginGroup, name: str) -> tuple[_Entry, Any]:
    group = description.name
    name = description.canonical(name)
    entries = _entries(group)
    entry = entries.get(name)
    if entry is None:
        hint = description.install_hint(name)
        known = ", ".join(sorted(entries)) or "none"
        message = f"no {group} plugin named {name!r} is installed (installed: {known})"
        if hint is not None:
            message += f"; {hint}"
        if _is_disabled(description, name):
            message += f" (note: {DISABLE_ENV} is set)"
        raise PluginNotFound(message, group=group, plugin=name, hint=description.hints.get(name))
    with _lock:
        if entry.done:
            return entry, entry.loaded
        try:
            obj = entry.loader()
        except Exception as exc:
            raise PluginLoadError(
                f"plugin {group}:{name} from {_source(entry.info)} failed to load: "
                f"{type(exc).__name__}: {exc}",
                group=group,
                plugin=name,
            ) from exc
        missing = _missing_from_class(description, obj)
        if missing:
            protocol = f" ({description.protocol})" if description.protocol else ""
            raise PluginLoadError(
                f"plugin {group}:{name} from {_source(entry.info)} does not provide what "
                f"{group} requires{protocol}: {_describe_object(obj)} {' and '.join(missing)}",
                group=group,
                plugin=name,
            )
        entry.loaded, entry.done = obj, True
        return entry, obj


def _describe_object(obj: Any) -> str:
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    return name if isinstance(name, str) else f"a {type(obj).__qualname__}"


def load(group: str, name: str) -> Any:
    """Return the object registered as ``name`` in ``group``, importing it on first use.

    ``name`` may be an alias (``postgres`` for ``postgresql``). The loaded object
    is checked against the group: it must provide the group's factory
    (``from_url`` for stores) and, when it is a class, the protocol's methods.

    Raises:
        PluginNotFound: nothing is registered under that name; the message says
            how to install the distribution when ordercore knows it.
        PluginLoadError: the plugin is installed but failed to import, or does not
            provide what its group requires (the message names what is missing).
        ConfigurationError: ``group`` is not one of :data:`GROUPS`.
    """
    return _load_entry(describe(group), name)[1]


def open_url(group: str, url: str, **options: Any) -> Any:
    """Open the plugin of ``group`` a URL's scheme names, with ``factory(url, **options)``.

    The scheme selects the plugin (case-insensitively, ``scheme+driver`` and
    aliases resolved as the group's :class:`PluginGroup` says); the whole URL and
    the options are passed to its factory, and what it returns is checked
    against the group's protocol.

    Args:
        group: A group whose plugins are opened by URL (``ordercore.storage``,
            ``ordercore.inventory``).
        url: e.g. ``sqlite:///orders.db`` or ``postgresql+psycopg://app@db/shop``.
        **options: Passed to the plugin's factory.

    Returns:
        What the plugin's factory returned (an ``OrderStore`` for stores).

    Raises:
        StoreURLError: a store URL is not a string, holds a control character or
            has no scheme (``ConfigurationError`` for other groups).
        ConfigurationError: unknown group, or one whose plugins are not opened by URL.
        PluginNotFound: nothing is installed for the scheme.
        PluginLoadError: the plugin failed to import, has no factory, or its
            factory returned something that does not satisfy the group's protocol.

    Example:
        >>> from ordercore import plugins
        >>> with plugins.open_url("ordercore.storage", "sqlite://") as store:
        ...     type(store).__name__
        'SQLiteStore'
    """
    description = describe(group)
    factory = description.factory
    if factory is None:
        raise _not_opened_by_url(description)
    entry, plugin = _load_entry(description, description.name_for_url(url))
    opened = getattr(plugin, factory)(url, **options)
    if description.protocol is not None:
        protocol = _import_target(description.protocol)
        if not isinstance(opened, protocol):
            missing = [m for m in _protocol_members(protocol) if not hasattr(opened, m)]
            close = getattr(opened, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
            raise PluginLoadError(
                f"plugin {group}:{entry.info.name} from {_source(entry.info)}: "
                f"{factory}() returned a {type(opened).__qualname__}, "
                f"which does not satisfy {description.protocol}"
                + (f": it has no {', '.join(missing)}" if missing else ""),
                group=group,
                plugin=entry.info.name,
            )
    return opened


def available(group: str) -> dict[str, Any]:
    """Load every plugin of ``group``; ones that fail are logged and left out."""
    loaded: dict[str, Any] = {}
    for info in registered(group):
        try:
            loaded[info.name] = load(group, info.name)
        except PluginLoadError:
            logger.warning("skipping broken plugin %s:%s", group, info.name, exc_info=True)
    return loaded


class _Registration:
    """Handle returned by :func:`register`; undo it with :meth:`remove` or a ``with`` block."""

    def __init__(self, group: str, name: str, previous: _Entry | None) -> None:
        self.group, self.name, self._previous = group, name, previous

    def remove(self) -> None:
        with _lock:
            group = _overrides.setdefault(self.group, {})
            if self._previous is None:
                group.pop(self.name, None)
            else:
                group[self.name] = self._previous

    def __enter__(self) -> _Registration:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


def register(group: str, name: str, obj: Any, *, replace: bool = False) -> _Registration:
    """Register ``obj`` (or a ``"module:attribute"`` string, imported lazily) as ``name``.

    For tests and in-house code that is not packaged as a distribution. The
    registration wins over an installed plugin of the same name only with
    ``replace=True``. The object is checked against the group when it is first
    loaded, like any plugin.

    Returns:
        A handle; ``with register(...):`` undoes the registration on exit.

    Raises:
        ConfigurationError: unknown group, ``name`` is an alias of another name,
            or ``name`` is taken and ``replace`` is false.
    """
    description = describe(group)
    if name in description.aliases:
        raise ConfigurationError(
            f"{group}:{name} is an alias of {description.aliases[name]!r}; "
            f"register {description.aliases[name]!r} instead"
        )
    with _lock:
        if name in _entries(group) and not replace:
            raise ConfigurationError(
                f"{group}:{name} is already registered; pass replace=True to override it"
            )
        overrides = _overrides.setdefault(group, {})
        previous = overrides.get(name)
        if isinstance(obj, str):
            info = PluginInfo(group, name, obj, None, builtin=False)
            overrides[name] = _Entry(info, functools.partial(_import_target, obj))
        else:
            info = PluginInfo(group, name, None, None, builtin=False)
            overrides[name] = _Entry(info, lambda: obj)
        return _Registration(group, name, previous)


def reset() -> None:
    """Forget discovered entry points and registrations (re-read on next use)."""
    with _lock:
        _discovered.clear()
        _overrides.clear()
