"""Test helpers that ship with ordercore, for its own tests and for plugin authors.

- :class:`OrderFactory` builds realistic canonical orders from every channel.
- :class:`StoreConformance` is the test suite every order store passes; a
  backend's test module subclasses it and provides a ``store`` fixture.
- :class:`InventoryConformance` is the suite every inventory backend passes.
- The pytest plugin (:mod:`ordercore.testing.pytest_plugin`, loaded
  automatically when ordercore is installed) offers the ``order_factory`` and
  ``memory_store`` fixtures.

This package imports pytest only for the conformance suite; import
:class:`OrderFactory` from here without pytest installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ordercore.testing._factory import CATALOGUE, CHANNELS, OrderFactory

if TYPE_CHECKING:
    from ordercore.testing._inventory_suite import InventoryConformance
    from ordercore.testing._store_suite import StoreConformance

__all__ = ["CATALOGUE", "CHANNELS", "InventoryConformance", "OrderFactory", "StoreConformance"]


def __getattr__(name: str) -> Any:
    if name == "InventoryConformance":
        from ordercore.testing._inventory_suite import InventoryConformance

        return InventoryConformance
    if name == "StoreConformance":
        from ordercore.testing._store_suite import StoreConformance

        return StoreConformance
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
