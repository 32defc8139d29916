"""The plugin registry: names in entry-point groups, resolved lazily.

Channels, storage engines, inventory backends, image scorers and notifiers are
plugins. A plugin distribution declares an entry point in one of :data:`GROUPS`::

    [project.entry-points."ordercore.storage"]
    postgresql = "ordercore_postgres:PostgresStore"

Nothing is imported when ``ordercore`` is imported. The first :func:`load` of a
group reads that group's entry-point *names* from the installed metadata; the
target is imported only when that name is loaded. ordercore's own built-ins
(the memory and SQLite stores) are registered through the same door, as entry
points of the ``ordercore`` distribution, with the same objects as a fallback
when ordercore runs from a source tree without metadata.

A plugin that fails to import raises :class:`~ordercore.errors.PluginLoadError`
when asked for by name, and is logged and skipped when listing; it never breaks
``import ordercore``. Set ``ORDERCORE_DISABLE_PLUGINS=1`` (or ``all``) to ignore
every third-party entry point, or to a comma-separated list of names
(``postgresql,acme``) or ``group:name`` pairs to ignore only those. Code and tests
can add or override entries with :func:`register`.

Example:
    >>> from ordercore import plugins
    >>> plugins.load("ordercore.storage", "memory").__name__
    'MemoryStore'
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Final

from ordercore.errors import ConfigurationError, PluginLoadError, PluginNotFound

__all__ = [
    "DISABLE_ENV",
    "GROUPS",
    "PluginInfo",
    "available",
    "load",
    "register",
    "registered",
    "reset",
]

logger = logging.getLogger("ordercore.plugins")

DISABLE_ENV: Final = "ORDERCORE_DISABLE_PLUGINS"

GROUPS: Final = (
    "ordercore.connectors",
    "ordercore.storage",
    "ordercore.inventory",
    "ordercore.scorers",
    "ordercore.notifiers",
)

#: ordercore's own entries; also declared as entry points in its pyproject.toml.
_BUILTINS: Final[dict[str, dict[str, str]]] = {
    "ordercore.storage": {
        "memory": "ordercore.storage._memory:MemoryStore",
        "sqlite": "ordercore.storage._sqlite:SQLiteStore",
    },
}

#: Names we know the distribution of, for "pip install ..." hints. Only
#: distributions that exist are listed; a hint must never send users to nothing.
_INSTALL_HINTS: Final[dict[str, dict[str, str]]] = {
    "ordercore.storage": {
        "postgresql": "ordercore-postgres",
        "postgres": "ordercore-postgres",
    },
}

_BUILTIN_DISTRIBUTION: Final = "ordercore-oms"


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


def _check_group(group: str) -> None:
    if group not in GROUPS:
        raise ConfigurationError(
            f"unknown plugin group {group!r}; the groups are {', '.join(GROUPS)}"
        )


def _disabled() -> tuple[bool, frozenset[str]]:
    """Return (all third-party plugins disabled, names disabled)."""
    value = os.environ.get(DISABLE_ENV, "").strip()
    if value.lower() in {"1", "true", "yes", "all", "*"}:
        return True, frozenset()
    if value.lower() in {"", "0", "false", "no"}:
        return False, frozenset()
    return False, frozenset(part.strip() for part in value.split(",") if part.strip())


def _import_target(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attribute.split(".")):
        obj = getattr(obj, part)
    return obj


def _discover(group: str) -> dict[str, _Entry]:
    """Read the names in ``group`` from installed metadata (imports nothing)."""
    found: dict[str, _Entry] = {}
    for name, target in _BUILTINS.get(group, {}).items():
        info = PluginInfo(group, name, target, _BUILTIN_DISTRIBUTION, builtin=True)
        found[name] = _Entry(info, functools.partial(_import_target, target))
    all_off, names_off = _disabled()
    try:
        declared = entry_points(group=group)
    except Exception:  # pragma: no cover - broken metadata must not break ordercore
        logger.exception("could not read entry points of %s", group)
        declared = ()  # type: ignore[assignment]
    for ep in declared:
        distribution = ep.dist.name if ep.dist is not None else None
        builtin = distribution is not None and distribution.lower() == _BUILTIN_DISTRIBUTION
        if builtin:
            if ep.name in found:
                continue  # the same built-in, already registered above
        elif all_off or ep.name in names_off or f"{group}:{ep.name}" in names_off:
            logger.info("plugin %s:%s disabled by %s", group, ep.name, DISABLE_ENV)
            continue
        if ep.name in found and not found[ep.name].info.builtin:
            logger.warning(
                "plugin %s:%s is declared by both %s and %s; using the first",
                group,
                ep.name,
                found[ep.name].info.distribution,
                distribution,
            )
            continue
        info = PluginInfo(group, ep.name, ep.value, distribution, builtin=builtin)
        found[ep.name] = _Entry(info, ep.load)
    return found


def _entries(group: str) -> dict[str, _Entry]:
    _check_group(group)
    with _lock:
        if group not in _discovered:
            _discovered[group] = _discover(group)
        merged = dict(_discovered[group])
        merged.update(_overrides.get(group, {}))
        return merged


def registered(group: str) -> list[PluginInfo]:
    """List what is registered in ``group``, without importing anything.

    Raises:
        ConfigurationError: ``group`` is not one of :data:`GROUPS`.
    """
    return sorted((e.info for e in _entries(group).values()), key=lambda i: i.name)


def load(group: str, name: str) -> Any:
    """Return the object registered as ``name`` in ``group``, importing it on first use.

    Raises:
        PluginNotFound: nothing is registered under that name; the message names
            the distribution to install when ordercore knows it.
        PluginLoadError: the plugin is installed but failed to import.
        ConfigurationError: ``group`` is not one of :data:`GROUPS`.
    """
    entry = _entries(group).get(name)
    if entry is None:
        hint = _INSTALL_HINTS.get(group, {}).get(name)
        known = ", ".join(sorted(_entries(group))) or "none"
        message = f"no {group} plugin named {name!r} is installed (installed: {known})"
        if hint is not None:
            message += f"; install it with: pip install {hint}"
        all_off, names_off = _disabled()
        if all_off or name in names_off or f"{group}:{name}" in names_off:
            message += f" (note: {DISABLE_ENV} is set)"
        raise PluginNotFound(message, group=group, plugin=name, hint=hint)
    with _lock:
        if entry.done:
            return entry.loaded
        try:
            obj = entry.loader()
        except Exception as exc:
            source = entry.info.distribution or "register()"
            raise PluginLoadError(
                f"plugin {group}:{name} from {source} failed to load: {type(exc).__name__}: {exc}",
                group=group,
                plugin=name,
            ) from exc
        entry.loaded, entry.done = obj, True
        return obj


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
    ``replace=True``.

    Returns:
        A handle; ``with register(...):`` undoes the registration on exit.

    Raises:
        ConfigurationError: unknown group, or ``name`` is taken and ``replace`` is false.
    """
    _check_group(group)
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
            overrides[name] = _Entry(info, lambda: obj, loaded=obj, done=True)
        return _Registration(group, name, previous)


def reset() -> None:
    """Forget discovered entry points and registrations (re-read on next use)."""
    with _lock:
        _discovered.clear()
        _overrides.clear()
