"""ordercore's own ids: ULIDs that sort by creation time."""

from __future__ import annotations

import itertools
import os
import threading
import time
import types
import warnings

import pytest

from ordercore import ids
from ordercore.errors import IdError
from ordercore.ids import id_time_ms, is_valid_id, new_id

CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
SPEC_EXAMPLE = "01ARYZ6S41TSV4RRFFQ69G5FAV"  # from the ULID specification
SPEC_EXAMPLE_MS = 1469918176385


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Replace the clock ids reads with one that stays where the test puts it."""
    monkeypatch.setattr(ids, "_last_ms", -1)
    monkeypatch.setattr(ids, "_last_random", 0)
    clock = types.SimpleNamespace(ms=1_600_000_000_000)
    monkeypatch.setattr(ids, "time", types.SimpleNamespace(time_ns=lambda: clock.ms * 1_000_000))
    return clock


def fixed_random(monkeypatch: pytest.MonkeyPatch, byte: int) -> None:
    monkeypatch.setattr(ids, "os", types.SimpleNamespace(urandom=lambda n: bytes([byte]) * n))


class TestFormat:
    def test_shape(self) -> None:
        """An id is 26 Crockford base32 characters and passes is_valid_id."""
        value = new_id()
        assert isinstance(value, str)
        assert len(value) == 26
        assert set(value) <= CROCKFORD
        assert value[0] in "01234567"
        assert is_valid_id(value)

    def test_encoding_matches_the_ulid_spec(
        self, monkeypatch: pytest.MonkeyPatch, frozen_clock: types.SimpleNamespace
    ) -> None:
        """The time part is 10 characters of big-endian base32 milliseconds, as in the spec."""
        frozen_clock.ms = SPEC_EXAMPLE_MS
        fixed_random(monkeypatch, 0x00)
        assert new_id() == SPEC_EXAMPLE[:10] + "0" * 16
        frozen_clock.ms = SPEC_EXAMPLE_MS + 1
        fixed_random(monkeypatch, 0xFF)
        # 79 random bits leave room to count up within one millisecond.
        assert new_id() == "01ARYZ6S42" + "F" + "Z" * 15

    def test_id_time_ms_decodes_the_spec_example(self) -> None:
        """id_time_ms reads the creation time back out of an id."""
        assert id_time_ms(SPEC_EXAMPLE) == SPEC_EXAMPLE_MS

    def test_id_time_is_now(self) -> None:
        """A new id carries the time it was made at."""
        before = time.time_ns() // 1_000_000
        value = new_id()
        after = time.time_ns() // 1_000_000
        assert before <= id_time_ms(value) <= after


class TestOrdering:
    def test_strictly_increasing_in_a_tight_loop(self) -> None:
        """Ids made one after another always sort in creation order, with no repeats."""
        made = [new_id() for _ in range(20_000)]
        assert all(a < b for a, b in itertools.pairwise(made))
        assert len(set(made)) == len(made)

    def test_strictly_increasing_within_one_millisecond(
        self, frozen_clock: types.SimpleNamespace
    ) -> None:
        """Ids from the same millisecond count up in their random part."""
        made = [new_id() for _ in range(5_000)]
        assert all(a < b for a, b in itertools.pairwise(made))
        assert {id_time_ms(v) for v in made} == {frozen_clock.ms}
        assert {v[:10] for v in made} == {made[0][:10]}

    def test_clock_going_backwards_keeps_order(self, frozen_clock: types.SimpleNamespace) -> None:
        """If the wall clock steps back, ids keep increasing (on the last time seen)."""
        first = new_id()
        frozen_clock.ms -= 5_000
        second = new_id()
        assert first < second
        assert id_time_ms(second) == id_time_ms(first)
        frozen_clock.ms += 10_000
        third = new_id()
        assert second < third
        assert id_time_ms(third) == frozen_clock.ms

    def test_random_part_overflow_moves_to_next_millisecond(
        self, monkeypatch: pytest.MonkeyPatch, frozen_clock: types.SimpleNamespace
    ) -> None:
        """When a millisecond's random space is used up, the next id takes the next millisecond."""
        first = new_id()
        monkeypatch.setattr(ids, "_last_random", (1 << 80) - 1)
        second = new_id()
        assert first < second
        assert id_time_ms(second) == frozen_clock.ms + 1

    def test_unique_across_threads(self) -> None:
        """Ids made concurrently in several threads are all distinct and ordered per thread."""
        results: list[list[str]] = [[] for _ in range(8)]
        start = threading.Barrier(len(results))

        def work(out: list[str]) -> None:
            start.wait()
            out.extend(new_id() for _ in range(2_000))

        threads = [threading.Thread(target=work, args=(out,)) for out in results]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        every = [value for out in results for value in out]
        assert len(every) == 16_000
        assert len(set(every)) == len(every)
        for out in results:
            assert out == sorted(out)

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_forked_child_does_not_repeat_parent_ids(
        self, frozen_clock: types.SimpleNamespace
    ) -> None:
        """A forked child in the same millisecond makes different ids from its parent."""
        new_id()
        read_end, write_end = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                os.write(write_end, new_id().encode())
            finally:
                os._exit(0)
        os.close(write_end)
        in_parent = new_id()
        with os.fdopen(read_end, "rb") as pipe:
            in_child = pipe.read().decode()
        os.waitpid(pid, 0)
        assert is_valid_id(in_child)
        assert id_time_ms(in_child) == id_time_ms(in_parent) == frozen_clock.ms
        assert in_child != in_parent


class TestValidation:
    @pytest.mark.parametrize(
        "value",
        [
            "",
            "01ARYZ6S41TSV4RRFFQ69G5FA",  # 25 characters
            "01ARYZ6S41TSV4RRFFQ69G5FAVX",  # 27 characters
            "01arYZ6S41TSV4RRFFQ69G5FAV",  # lower case
            "01ARYZ6S41TSV4RRFFQ69G5FAI",  # I is not Crockford
            "01ARYZ6S41TSV4RRFFQ69G5FAL",
            "01ARYZ6S41TSV4RRFFQ69G5FAO",
            "01ARYZ6S41TSV4RRFFQ69G5FAU",
            "81ARYZ6S41TSV4RRFFQ69G5FAV",  # time part beyond 48 bits
            "01ARYZ6S41-SV4RRFFQ69G5FAV",
            " 1ARYZ6S41TSV4RRFFQ69G5FAV",
            None,
            12345,
            b"01ARYZ6S41TSV4RRFFQ69G5FAV",
            ["01ARYZ6S41TSV4RRFFQ69G5FAV"],
        ],
    )
    def test_junk_is_not_a_valid_id(self, value: object) -> None:
        """Anything but a 26-character upper-case Crockford string is rejected."""
        assert not is_valid_id(value)

    def test_largest_valid_id(self) -> None:
        """7ZZZZZZZZZZZZZZZZZZZZZZZZZ is the last valid ULID."""
        assert is_valid_id("7" + "Z" * 25)
        assert id_time_ms("7" + "Z" * 25) == (1 << 48) - 1

    @pytest.mark.parametrize("value", ["", "not-an-id", "81ARYZ6S41TSV4RRFFQ69G5FAV"])
    def test_id_time_ms_rejects_junk(self, value: str) -> None:
        """id_time_ms raises IdError (a ValueError) for something that is not an id."""
        with pytest.raises(IdError, match="not a ULID"):
            id_time_ms(value)

    @pytest.mark.parametrize("value", [None, 12345, b"01ARZ3NDEKTSV4RRFFQ69G5FAV"])
    def test_id_time_ms_rejects_non_strings(self, value: object) -> None:
        """A value of the wrong type is an IdError too, naming the type."""
        with pytest.raises(IdError, match="expected a str"):
            id_time_ms(value)  # type: ignore[arg-type]

    def test_id_time_ms_does_not_echo_huge_or_personal_values(self) -> None:
        """The message shows at most 32 characters and masks a phone number."""
        with pytest.raises(IdError) as caught:
            id_time_ms("A" * 1_000_000)
        assert len(caught.value.message) < 120
        with pytest.raises(IdError) as caught:
            id_time_ms("13800138000")
        assert "13800138000" not in str(caught.value)
