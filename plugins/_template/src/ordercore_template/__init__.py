"""A template ordercore plugin: the ``template://`` order store.

ordercore finds :class:`TemplateStore` through the ``ordercore.storage`` entry
point ``template`` declared in this distribution's ``pyproject.toml``; nothing
here is imported until ``open_store("template://")`` asks for it. ordercore then
checks that the class has ``from_url`` and the methods of
:class:`ordercore.storage.OrderStore`, and that ``from_url`` returns a store.

To start a new plugin, copy the distribution to ``plugins/ordercore-<name>/``
and follow its README: rename this package to ``ordercore_<name>``, pick a
distribution name that is free on PyPI, and replace the class body with your
backend.
"""

from __future__ import annotations

from typing import Any

from ordercore.errors import StoreURLError
from ordercore.storage import MemoryStore

__all__ = ["TemplateStore"]


class TemplateStore(MemoryStore):
    """An order store opened as ``template://``; replace the body with your backend.

    It keeps orders in memory by reusing :class:`ordercore.storage.MemoryStore`,
    so the distribution is complete and its tests pass from the first commit.
    """

    @classmethod
    def from_url(cls, url: str, **options: Any) -> TemplateStore:
        """Open from ``template://`` (a real backend parses host, database and options here)."""
        scheme, _, rest = url.partition("://")
        if scheme.lower() != "template":
            # Never repeat the URL in the message: a real one may carry a password.
            raise StoreURLError("not a template:// URL", url=url)
        if options or rest not in ("", "/"):
            raise StoreURLError("template:// takes no path or options", url=url)
        return cls(url)
