"""OrderQuery: filters are checked when the query is made, not when it runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ordercore import open_store
from ordercore.errors import ConfigurationError
from ordercore.storage import OrderQuery


class TestOrderQuery:
    def test_statuses_are_canonical_sorted_and_deduplicated(self) -> None:
        """One status or several, given as strings or enums, become a sorted tuple."""
        assert OrderQuery(status="paid").status == ("paid",)
        assert OrderQuery(status=["paid", "cancelled", "paid"]).status == ("cancelled", "paid")

    def test_an_unknown_status_is_refused(self) -> None:
        """A misspelt status is an error at once, naming it, rather than an empty result."""
        with pytest.raises(ConfigurationError, match="shiped"):
            OrderQuery(status="shiped")

    def test_naive_times_are_refused(self) -> None:
        """Time filters must be aware: a naive datetime could mean any zone."""
        with pytest.raises(ConfigurationError, match="timezone-aware"):
            OrderQuery(created_from=datetime(2026, 11, 11))
        assert OrderQuery(created_to=datetime(2026, 11, 11, tzinfo=UTC)).created_to is not None

    @pytest.mark.parametrize("limit", [0, -1, 100_001])
    def test_limits_outside_the_range_are_refused(self, limit: int) -> None:
        """limit is 1..100,000."""
        with pytest.raises(ConfigurationError, match="limit"):
            OrderQuery(limit=limit)

    def test_unknown_keyword_filters_are_refused(self) -> None:
        """store.query(colour=...) is an error naming the bad filter."""
        store = open_store("memory://")
        with pytest.raises(ConfigurationError, match="colour"):
            store.query(colour="red")
        with pytest.raises(ConfigurationError):
            store.count(status="nope")
