"""Versions of one rule set: activate, roll back, reload a changed file, and try a candidate.

A :class:`RuleBook` holds every version of one rule set that was loaded and which one
is active. Swapping the active version is one reference assignment, so an evaluation
running at the same time uses either the old version or the new one, never a mix.
:meth:`RuleBook.watch` follows a rule file: a changed file that validates becomes the
active version, one that does not is reported and the active version stays.

:func:`dry_run` evaluates a candidate version and the active one over past orders
(a list, or a store read page by page) and reports which decisions would change.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import attrs

from ordercore.errors import (
    ConfigurationError,
    RuleError,
    RuleLoadError,
    RuleVersionConflict,
    RuleVersionNotFound,
)
from ordercore.pii import redact
from ordercore.rules._context import RuleContext
from ordercore.rules._decision import Decision
from ordercore.rules._ruleset import RuleSet, rules_from_bytes
from ordercore.rules._syntax import LIMITS, Limits
from ordercore.schema import Order
from ordercore.storage import OrderQuery, OrderStore
from ordercore.timestamps import utc_now

__all__ = [
    "Activation",
    "ActionDelta",
    "DryRunReport",
    "OrderChange",
    "ReloadResult",
    "ReloadStatus",
    "RuleBook",
    "RuleDelta",
    "RuleSetRef",
    "dry_run",
    "ruleset_digest",
]

_log = logging.getLogger("ordercore.rules")

#: A file modified this recently may still be written within the same mtime tick, so
#: its (mtime, size) is not trusted to mean "unchanged" on the next look.
_FRESH_NS: Final = 2_000_000_000
#: How long an echoed text (an action, an error message) may be in a report.
_ECHO_LIMIT: Final = 200
_URL_PASSWORD: Final = re.compile(r"(?<=://)([^/@:]*):[^/@]*@")


def ruleset_digest(ruleset: RuleSet) -> str:
    """A SHA-256 of what a rule set says (its :meth:`RuleSet.to_dict`), not where it came from.

    Two loads of the same rules have the same digest, whatever file or text they
    came from.
    """
    text = json.dumps(ruleset.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _echo(text: str) -> str:
    return redact(text, limit=_ECHO_LIMIT)


def _mask_url(url: str) -> str:
    """A store URL without its password (``postgresql://shop:***@db/orders``)."""
    return _URL_PASSWORD.sub(lambda found: f"{found.group(1)}:***@", url)


# -- the rule book ----------------------------------------------------------------------


@attrs.frozen(slots=True)
class Activation:
    """One change of a rule book's active version.

    Attributes:
        version: The version made active.
        previous: The version active before (``None``: none was).
        at: When (aware UTC).
        reason: ``activate``, ``rollback`` or ``reload`` (a watched file changed).
        by: Who asked, when the caller said.
    """

    version: int
    previous: int | None
    at: datetime
    reason: str
    by: str | None = None


class ReloadStatus(StrEnum):
    """What :meth:`RuleBook.reload` did with the watched file."""

    UNCHANGED = "unchanged"  # the file is as it was at the last look
    ACTIVATED = "activated"  # it validated; its version is the active one now
    REJECTED = "rejected"  # it did not validate (or cannot be read); the active version stays


@attrs.frozen(slots=True)
class ReloadResult:
    """What one look at a watched rule file found.

    Attributes:
        path: The file.
        status: Unchanged, activated or rejected.
        active: The version active after the look (``None``: none).
        previous: The version active before it.
        version: The file's version, when it loaded.
        sha256: The digest of the file's bytes, when they could be read.
        error: Why the file was rejected (a :class:`~ordercore.errors.RuleLoadError`
            with every problem, or a :class:`RuleVersionConflict`).
    """

    path: str
    status: ReloadStatus
    active: int | None
    previous: int | None
    version: int | None = None
    sha256: str | None = None
    error: RuleLoadError | None = None

    @property
    def ok(self) -> bool:
        """Whether the file is usable (unchanged or activated)."""
        return self.status is not ReloadStatus.REJECTED

    @property
    def switched(self) -> bool:
        """Whether the active version changed."""
        return self.active != self.previous

    def describe(self) -> str:
        """One line (the rejection's problems follow on further lines)."""
        if self.status is ReloadStatus.UNCHANGED:
            return f"{self.path}: unchanged; v{self.active} stays active"
        if self.status is ReloadStatus.ACTIVATED:
            if self.switched:
                before = f"v{self.previous}" if self.previous is not None else "none"
                return f"{self.path}: v{self.version} is active (was {before})"
            return f"{self.path}: v{self.version} is active (it already was)"
        kept = f"v{self.active} stays active" if self.active is not None else "no version active"
        assert self.error is not None
        return f"{self.path}: rejected; {kept}:\n" + "\n".join(self.error.problems)


class RuleBook:
    """The versions of one rule set, the active one, and how it came to be active.

    Args:
        name: The rule set's name; ``None`` takes the name of the first set added.
        limits: The language caps for files loaded by :meth:`watch` / :meth:`reload`.
        clock: The clock activations are stamped with.

    Example:
        >>> v1 = RuleSet.from_dict({"ruleset": "demo", "version": 1, "rules": []})
        >>> v2 = RuleSet.from_dict({"ruleset": "demo", "version": 2, "rules": []})
        >>> book = RuleBook()
        >>> _ = book.add(v1, activate=True)
        >>> _ = book.add(v2, activate=True)
        >>> book.rollback().version
        1
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        limits: Limits = LIMITS,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.name = name
        self.limits = limits
        self._clock = clock
        self._lock = threading.RLock()
        self._reload_lock = threading.Lock()
        self._versions: dict[int, RuleSet] = {}
        self._digests: dict[int, str] = {}
        self._active: RuleSet | None = None
        self._previous: list[int] = []
        self._history: list[Activation] = []
        self._watched: Path | None = None
        self._seen_stat: tuple[int, int] | None = None
        self._seen_state: str | None = None
        self._last_reload: ReloadResult | None = None
        self._thread: threading.Thread | None = None
        self._stop_polling: threading.Event | None = None

    def __repr__(self) -> str:
        active = self.active_version
        return (
            f"<RuleBook {self.name}: versions {self.versions()}, "
            f"active {'v' + str(active) if active is not None else 'none'}>"
        )

    def __contains__(self, version: object) -> bool:
        return version in self._versions

    def __len__(self) -> int:
        return len(self._versions)

    # -- versions ------------------------------------------------------------------------

    def add(self, ruleset: RuleSet, *, activate: bool = False, by: str | None = None) -> RuleSet:
        """Hold ``ruleset`` as one of the book's versions.

        Adding a version the book holds with the same rules again changes nothing.

        Args:
            ruleset: The rule set.
            activate: Also make it the active version.
            by: Who activates it (recorded in :attr:`history`).

        Returns:
            The version as held (the earlier load when it was held already).

        Raises:
            RuleVersionConflict: it is another rule set (its name differs), or its
                version number is held with different rules.
        """
        digest = ruleset_digest(ruleset)
        with self._lock:
            if self.name is None:
                self.name = ruleset.name
            if ruleset.name != self.name:
                raise RuleVersionConflict(
                    f"rule set {ruleset.name!r} v{ruleset.version} (from {ruleset.source}) cannot "
                    f"join the rule book of {self.name!r}: a rule book holds the versions of one "
                    "rule set",
                    ruleset=ruleset.name,
                    version=ruleset.version,
                    source=ruleset.source,
                )
            held = self._versions.get(ruleset.version)
            if held is None:
                self._versions[ruleset.version] = ruleset
                self._digests[ruleset.version] = digest
                held = ruleset
            elif self._digests[ruleset.version] != digest:
                raise RuleVersionConflict(
                    f"rule set {ruleset.name!r} v{ruleset.version} from {ruleset.source} differs "
                    f"from the v{ruleset.version} the rule book holds (from {held.source}); give "
                    "the changed rules a new version number",
                    ruleset=ruleset.name,
                    version=ruleset.version,
                    source=ruleset.source,
                )
            if activate:
                self._switch(ruleset.version, reason="activate", by=by)
            return held

    def versions(self) -> list[int]:
        """The version numbers held, ascending."""
        return sorted(self._versions)

    def get(self, version: int) -> RuleSet:
        """The rule set of ``version``.

        Raises:
            RuleVersionNotFound: the book does not hold it.
        """
        found = self._versions.get(version)
        if found is None:
            raise self._not_found(version)
        return found

    @property
    def active(self) -> RuleSet | None:
        """The active version (``None`` until one is activated)."""
        return self._active

    @property
    def active_version(self) -> int | None:
        """The active version's number."""
        active = self._active
        return active.version if active is not None else None

    @property
    def history(self) -> tuple[Activation, ...]:
        """Every change of the active version, oldest first."""
        with self._lock:
            return tuple(self._history)

    def activate(self, version: int, *, by: str | None = None) -> RuleSet:
        """Make ``version`` the active version (activating the active one changes nothing).

        Raises:
            RuleVersionNotFound: the book does not hold it.
        """
        with self._lock:
            return self._switch(version, reason="activate", by=by)

    def rollback(self, *, by: str | None = None) -> RuleSet:
        """Go back to the version that was active before the current one.

        Rolling back again goes further back: after activating v1, v2 and v3, two
        rollbacks make v1 active.

        Raises:
            RuleVersionNotFound: no version was active before the current one.
        """
        with self._lock:
            if not self._previous:
                raise RuleVersionNotFound(
                    f"rule book {self.name!r} has no earlier active version to roll back to "
                    f"(active: {self._describe_active()})",
                    ruleset=self.name or "",
                    version=None,
                )
            version = self._previous.pop()
            return self._switch(version, reason="rollback", by=by, remember=False)

    def _switch(
        self, version: int, *, reason: str, by: str | None, remember: bool = True
    ) -> RuleSet:
        target = self._versions.get(version)
        if target is None:
            raise self._not_found(version)
        current = self._active
        if current is target:
            return target
        if remember and current is not None:
            self._previous.append(current.version)
        self._history.append(
            Activation(
                version=version,
                previous=current.version if current is not None else None,
                at=self._clock(),
                reason=reason,
                by=by,
            )
        )
        # The swap: one reference assignment; evaluations read the reference once.
        self._active = target
        _log.info(
            "rule set %s: v%s active (%s%s)",
            self.name,
            version,
            reason,
            f" by {by}" if by else "",
        )
        return target

    def _not_found(self, version: int) -> RuleVersionNotFound:
        held = ", ".join(f"v{number}" for number in self.versions()) or "none"
        return RuleVersionNotFound(
            f"rule book {self.name!r} holds no version {version} (held: {held})",
            ruleset=self.name or "",
            version=version,
        )

    def _describe_active(self) -> str:
        active = self.active_version
        return f"v{active}" if active is not None else "none"

    # -- evaluating ----------------------------------------------------------------------

    def evaluate(
        self, order: Order, context: RuleContext | None = None, *, explain: bool = False
    ) -> Decision:
        """Evaluate the active version on ``order`` (see :meth:`RuleSet.evaluate`).

        Raises:
            RuleVersionNotFound: no version is active.
            RuleEvaluationError: a rule failed (with ``on_error: raise``).
            RuleConflict: two rules set one slot (with ``conflicts: error``).
        """
        rules = self._active  # read once: a swap meanwhile does not affect this evaluation
        if rules is None:
            raise RuleVersionNotFound(
                f"rule book {self.name!r} has no active version; activate one first",
                ruleset=self.name or "",
                version=None,
            )
        return rules.evaluate(order, context, explain=explain)

    def dry_run(
        self,
        candidate: RuleSet | int,
        orders: OrderStore | Iterable[Order],
        **options: Any,
    ) -> DryRunReport:
        """Compare ``candidate`` (a rule set, or a version the book holds) with the active
        version over ``orders``; see :func:`dry_run` for the options.

        Raises:
            RuleVersionNotFound: ``candidate`` is a version the book does not hold.
        """
        chosen = self.get(candidate) if isinstance(candidate, int) else candidate
        options.setdefault("active", self._active)
        return dry_run(chosen, orders, **options)

    # -- following a file ----------------------------------------------------------------

    @property
    def watched(self) -> Path | None:
        """The rule file :meth:`reload` reads, if any."""
        return self._watched

    @property
    def last_reload(self) -> ReloadResult | None:
        """The last look at the watched file that found it changed (activated or rejected)."""
        return self._last_reload

    def watch(self, path: str | Path) -> ReloadResult:
        """Follow the rule file at ``path``: load it now, then on each :meth:`reload`.

        Returns:
            The first look at it (activated, or rejected with the reason); never raises
            for a file that does not validate.
        """
        with self._reload_lock:
            self._watched = Path(path)
            self._seen_stat = None
            self._seen_state = None
        return self.reload(force=True)

    def reload(self, *, force: bool = False) -> ReloadResult:
        """Look at the watched file; if it changed, load it and activate its version.

        A file counts as changed when its modification time or size differ from the
        last look and its SHA-256 differs too. A changed file that validates joins the
        book (or names a version the book holds with the same rules) and its version
        becomes active, even a lower one: the file says which version runs. A file
        that does not validate, cannot be read, or reuses a held version number for
        different rules leaves the active version as it is.

        Args:
            force: Read and hash the file even if its time and size are unchanged.

        Returns:
            What was found; a rejected file's result carries the error.

        Raises:
            ConfigurationError: no file is watched (call :meth:`watch` first).
        """
        with self._reload_lock:
            path = self._watched
            if path is None:
                raise ConfigurationError(
                    f"rule book {self.name!r} watches no file; call watch(path) first"
                )
            previous = self.active_version
            try:
                stat = path.stat()
                signature = (stat.st_mtime_ns, stat.st_size)
                if not force and signature == self._seen_stat:
                    return self._unchanged(path, previous)
                data = path.read_bytes()
            except OSError as error:
                self._seen_stat = None
                reason = f"{path}: cannot read the rule set: {error.strerror or error}"
                return self._reject(
                    path,
                    f"unreadable:{error.errno}",
                    previous,
                    None,
                    RuleLoadError(reason, source=str(path)),
                )
            fresh = time.time_ns() - stat.st_mtime_ns < _FRESH_NS
            self._seen_stat = None if fresh else signature
            digest = hashlib.sha256(data).hexdigest()
            if not force and digest == self._seen_state:
                return self._unchanged(path, previous)
            try:
                ruleset = _parse_file(path, data, self.limits)
                with self._lock:
                    self.add(ruleset)
                    self._switch(ruleset.version, reason="reload", by=None)
            except RuleLoadError as error:
                return self._reject(path, digest, previous, digest, error, force=force)
            self._seen_state = digest
            result = ReloadResult(
                path=str(path),
                status=ReloadStatus.ACTIVATED,
                active=ruleset.version,
                previous=previous,
                version=ruleset.version,
                sha256=digest,
            )
            self._last_reload = result
            return result

    def _unchanged(self, path: Path, active: int | None) -> ReloadResult:
        return ReloadResult(
            path=str(path), status=ReloadStatus.UNCHANGED, active=active, previous=active
        )

    def _reject(
        self,
        path: Path,
        state: str,
        active: int | None,
        digest: str | None,
        error: RuleLoadError,
        *,
        force: bool = False,
    ) -> ReloadResult:
        if state == self._seen_state and not force:
            return self._unchanged(path, active)  # the same broken file: reported already
        self._seen_state = state
        result = ReloadResult(
            path=str(path),
            status=ReloadStatus.REJECTED,
            active=active,
            previous=active,
            sha256=digest,
            error=error,
        )
        _log.warning(
            "rule set %s: %s rejected, %s stays active: %s",
            self.name,
            path,
            f"v{active}" if active is not None else "no version",
            error.message,
        )
        self._last_reload = result
        return result

    def start(
        self,
        interval: float = 2.0,
        *,
        callback: Callable[[ReloadResult], object] | None = None,
    ) -> None:
        """Reload the watched file every ``interval`` seconds in a background thread.

        Args:
            interval: Seconds between two looks.
            callback: Called (in that thread) with each result that is not
                ``unchanged``; what it raises is logged, and polling goes on.

        Raises:
            ConfigurationError: no file is watched, the interval is not positive, or
                the book is polling already.
        """
        if not interval > 0:
            raise ConfigurationError(f"the polling interval must be positive, got {interval!r}")
        with self._lock:
            if self._watched is None:
                raise ConfigurationError(
                    f"rule book {self.name!r} watches no file; call watch(path) first"
                )
            if self._thread is not None and self._thread.is_alive():
                raise ConfigurationError(f"rule book {self.name!r} is polling already")
            stop = threading.Event()
            thread = threading.Thread(
                target=self._poll,
                args=(interval, callback, stop),
                name=f"ordercore-rules-{self.name}",
                daemon=True,
            )
            self._stop_polling, self._thread = stop, thread
            thread.start()

    @property
    def polling(self) -> bool:
        """Whether the background thread is running."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the background thread (waiting up to ``timeout`` seconds for it)."""
        with self._lock:
            thread, stop = self._thread, self._stop_polling
            self._thread = self._stop_polling = None
        if thread is None or stop is None:
            return
        stop.set()
        if thread is not threading.current_thread():
            thread.join(timeout)

    def _poll(
        self,
        interval: float,
        callback: Callable[[ReloadResult], object] | None,
        stop: threading.Event,
    ) -> None:
        while not stop.wait(interval):
            try:
                result = self.reload()
            except Exception:  # a poller must survive what one look does
                _log.exception("rule set %s: reloading %s failed", self.name, self._watched)
                continue
            if result.status is ReloadStatus.UNCHANGED or callback is None:
                continue
            try:
                callback(result)
            except Exception:
                _log.exception("rule set %s: the reload callback failed", self.name)

    def __enter__(self) -> RuleBook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _parse_file(path: Path, data: bytes, limits: Limits) -> RuleSet:
    """Load a rule set from a file's bytes, as :func:`~ordercore.rules.load_rules` would."""
    return rules_from_bytes(path, data, limits)


# -- dry runs ---------------------------------------------------------------------------


@attrs.frozen(slots=True)
class OrderChange:
    """How one order's decision differs between the active and the candidate version.

    Every text is masked for personal data.

    Attributes:
        order_id: The order.
        channel: Its channel.
        channel_order_id: Its id on the channel.
        placed_at: When it was placed (UTC).
        matched_added: Rules that match under the candidate only.
        matched_removed: Rules that match under the active version only.
        actions_added: Actions (described) only the candidate asks for.
        actions_removed: Actions only the active version asks for.
        error_before: Why the active version could not decide, if it could not.
        error_after: Why the candidate could not decide, if it could not.
    """

    order_id: str
    channel: str
    channel_order_id: str
    placed_at: datetime
    matched_added: tuple[str, ...] = ()
    matched_removed: tuple[str, ...] = ()
    actions_added: tuple[str, ...] = ()
    actions_removed: tuple[str, ...] = ()
    error_before: str | None = None
    error_after: str | None = None

    def lines(self) -> list[str]:
        """The change as text: a head line, then one line per difference."""
        placed = f"{self.placed_at:%Y-%m-%d %H:%M} UTC"
        out = [f"{self.order_id}  {self.channel} {self.channel_order_id}  placed {placed}"]
        out += [f"    + rule {name}" for name in self.matched_added]
        out += [f"    - rule {name}" for name in self.matched_removed]
        out += [f"    + {text}" for text in self.actions_added]
        out += [f"    - {text}" for text in self.actions_removed]
        if self.error_before != self.error_after:
            if self.error_before is not None:
                out.append(f"    - error: {self.error_before}")
            if self.error_after is not None:
                out.append(f"    + error: {self.error_after}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """The change as JSON-ready data."""
        return {
            "order_id": self.order_id,
            "channel": self.channel,
            "channel_order_id": self.channel_order_id,
            "placed_at": self.placed_at.isoformat(),
            "matched_added": list(self.matched_added),
            "matched_removed": list(self.matched_removed),
            "actions_added": list(self.actions_added),
            "actions_removed": list(self.actions_removed),
            "error_before": self.error_before,
            "error_after": self.error_after,
        }


@attrs.frozen(slots=True)
class RuleDelta:
    """How often one rule matched under each version.

    Attributes:
        rule: The rule's name.
        before: Orders it matched under the active version.
        after: Orders it matched under the candidate.
        in_active: Whether the active version has the rule.
        in_candidate: Whether the candidate has it.
    """

    rule: str
    before: int
    after: int
    in_active: bool
    in_candidate: bool

    @property
    def change(self) -> int:
        """``after - before``: how many more (or, negative, fewer) matches."""
        return self.after - self.before


@attrs.frozen(slots=True)
class ActionDelta:
    """How many actions of one kind each version asks for over all orders.

    Attributes:
        kind: The action's name (``tag``, ``route``, ``add_gift``).
        before: Under the active version.
        after: Under the candidate.
    """

    kind: str
    before: int
    after: int

    @property
    def change(self) -> int:
        """``after - before``."""
        return self.after - self.before


@attrs.frozen(slots=True)
class RuleSetRef:
    """Which rule set version a report speaks of.

    Attributes:
        name: The rule set's name.
        version: Its version.
        source: The file it was loaded from (masked for personal data).
    """

    name: str
    version: int
    source: str

    @classmethod
    def of(cls, ruleset: RuleSet) -> RuleSetRef:
        """The reference to ``ruleset``."""
        return cls(ruleset.name, ruleset.version, _echo(ruleset.source))

    def label(self) -> str:
        """``fulfilment v7``."""
        return f"{self.name} v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """The reference as JSON-ready data."""
        return {"ruleset": self.name, "version": self.version, "source": self.source}


@attrs.frozen(slots=True)
class DryRunReport:
    """What a candidate version would change, order by order, against the active one.

    Attributes:
        candidate: The candidate's name, version and file.
        active: The active version's (``None``: compared against no rules).
        source: Where the orders came from (a store URL without its password).
        since: Only orders placed at or after this instant, when given.
        until: Only orders placed before this instant, when given.
        now: The time both versions saw as ``now``.
        evaluated: Orders evaluated.
        changed: Orders whose decision differs.
        failed_before: Orders the active version could not decide (an evaluation error).
        failed_after: Orders the candidate could not decide.
        rules: Matches per rule under each version.
        actions: Actions per kind under each version.
        changes: The changed orders, up to the number kept (oldest first).
        limited: Whether the run stopped at its ``limit`` with more orders left.
    """

    candidate: RuleSetRef
    active: RuleSetRef | None
    source: str
    since: datetime | None
    until: datetime | None
    now: datetime
    evaluated: int
    changed: int
    failed_before: int
    failed_after: int
    rules: tuple[RuleDelta, ...]
    actions: tuple[ActionDelta, ...]
    changes: tuple[OrderChange, ...]
    limited: bool = False

    @property
    def has_changes(self) -> bool:
        """Whether any order's decision differs."""
        return self.changed > 0

    @property
    def unlisted(self) -> int:
        """Changed orders not kept in :attr:`changes`."""
        return self.changed - len(self.changes)

    def _window(self) -> str:
        if self.since is None and self.until is None:
            return "any time"
        start = self.since.isoformat() if self.since is not None else "the first"
        end = self.until.isoformat() if self.until is not None else "the last"
        return f"placed from {start} until {end}"

    def render(self, max_orders: int = 20) -> str:
        """The report as text: the totals, the tables per rule and action kind, then up to
        ``max_orders`` changed orders and how many more there are."""
        against = (
            f"active {self.active.label()} ({self.active.source})"
            if self.active is not None
            else "no active rules (every match is new)"
        )
        lines = [
            f"dry run: candidate {self.candidate.label()} ({self.candidate.source}) "
            f"against {against}",
            f"orders: {self.source}, {self._window()}; rules evaluated at {self.now.isoformat()}",
            f"{_plural(self.evaluated, 'order')} evaluated"
            + (" (stopped at the limit; more orders match)" if self.limited else "")
            + f", {_plural(self.changed, 'order')} changed",
        ]
        if self.failed_before or self.failed_after:
            lines.append(
                f"evaluation errors: {self.failed_before} under the active version, "
                f"{self.failed_after} under the candidate"
            )
        lines += ["", "matches per rule (active -> candidate):"]
        if self.rules:
            rows = []
            for delta in self.rules:
                note = "new" if not delta.in_active else "removed" if not delta.in_candidate else ""
                rows.append(
                    (delta.rule, str(delta.before), str(delta.after), f"{delta.change:+d}", note)
                )
            headers = ("rule", "active", "candidate", "change", "note")
            lines += _table(headers, rows, right={1, 2, 3})
        else:
            lines.append("  (no rules)")
        lines += ["", "actions per kind (active -> candidate):"]
        if self.actions:
            kinds = [
                (delta.kind, str(delta.before), str(delta.after), f"{delta.change:+d}")
                for delta in self.actions
            ]
            lines += _table(("action", "active", "candidate", "change"), kinds, right={1, 2, 3})
        else:
            lines.append("  (no actions)")
        if self.changed:
            shown = self.changes[: max(0, max_orders)]
            lines += ["", f"changed orders (the first {len(shown)} of {self.changed}):"]
            for change in shown:
                lines += ["  " + line for line in change.lines()]
            rest = self.changed - len(shown)
            if rest:
                lines.append(f"  ... and {_plural(rest, 'more changed order')}")
        else:
            lines += ["", "no order's decision changes"]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (the changed orders kept, and how many were not)."""
        return {
            "candidate": self.candidate.to_dict(),
            "active": self.active.to_dict() if self.active is not None else None,
            "source": self.source,
            "since": self.since.isoformat() if self.since is not None else None,
            "until": self.until.isoformat() if self.until is not None else None,
            "now": self.now.isoformat(),
            "orders_evaluated": self.evaluated,
            "orders_changed": self.changed,
            "limited": self.limited,
            "evaluation_errors": {"active": self.failed_before, "candidate": self.failed_after},
            "rules": [
                {
                    "rule": delta.rule,
                    "active": delta.before,
                    "candidate": delta.after,
                    "change": delta.change,
                    "in_active": delta.in_active,
                    "in_candidate": delta.in_candidate,
                }
                for delta in self.rules
            ],
            "actions": [
                {
                    "action": delta.kind,
                    "active": delta.before,
                    "candidate": delta.after,
                    "change": delta.change,
                }
                for delta in self.actions
            ],
            "changes": [change.to_dict() for change in self.changes],
            "changes_not_listed": self.unlisted,
        }


def _plural(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: set[int]) -> list[str]:
    widths = [
        max([len(header), *(len(row[index]) for row in rows)])
        for index, header in enumerate(headers)
    ]

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return f"  {'  '.join(padded)}".rstrip()

    return [line(headers), line(["-" * width for width in widths]), *(line(r) for r in rows)]


#: A progress callback: ``(orders done, orders in all or None when not known)``.
ProgressCallback = Callable[[int, int | None], object]


def _window_query(
    query: OrderQuery | None, since: datetime | None, until: datetime | None
) -> OrderQuery | None:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ConfigurationError(f"{name} must be a timezone-aware datetime")
    if since is not None and until is not None and since >= until:
        raise ConfigurationError(
            f"since ({since.isoformat()}) must be before until ({until.isoformat()})"
        )
    if since is None and until is None:
        return query
    base = query if query is not None else OrderQuery()
    starts = [t for t in (base.created_from, since) if t is not None]
    ends = [t for t in (base.created_to, until) if t is not None]
    start = max(starts) if starts else None
    end = min(ends) if ends else None
    return attrs.evolve(base, created_from=start, created_to=end)


def _paged(store: OrderStore, query: OrderQuery, page_size: int) -> Iterator[Order]:
    """Every order of ``query``, a page at a time by the keyset cursor."""
    after = query.after
    while True:
        page = store.query(attrs.evolve(query, after=after, limit=page_size))
        yield from page
        if len(page) < page_size:
            return
        after = page[-1].sort_key()


def _decide(
    rules: RuleSet | None, order: Order, context: RuleContext
) -> tuple[Decision | None, str | None]:
    if rules is None:
        return None, None
    try:
        return rules.evaluate(order, context), None
    except RuleError as error:
        return None, _echo(error.message)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def dry_run(
    candidate: RuleSet,
    orders: OrderStore | Iterable[Order],
    *,
    active: RuleSet | None = None,
    query: OrderQuery | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    context: RuleContext | Callable[[Order], RuleContext] | None = None,
    progress: ProgressCallback | None = None,
    keep: int = 1000,
    page_size: int = 500,
) -> DryRunReport:
    """Evaluate ``candidate`` and ``active`` on each order and report what differs.

    Nothing is written: decisions are compared, never applied. Orders are read
    one page at a time from a store (by its keyset cursor), or one at a time from
    an iterable, so the run holds only the changed orders it keeps.

    Args:
        candidate: The version to try.
        orders: An :class:`~ordercore.storage.OrderStore`, or any iterable of orders.
        active: The version in use; ``None`` compares against no rules at all.
        query: Which orders of the store (or of the iterable) to use; its ``limit`` is
            ignored (see ``limit``), its ``after`` is where to start.
        since: Only orders placed at or after this instant (aware).
        until: Only orders placed before this instant (aware).
        limit: Evaluate at most this many orders.
        context: The context both versions see, or a function giving one per order.
            Its ``now`` defaults to the time the run started, the same for every order.
        progress: Called with ``(done, total)`` as orders are evaluated (``total`` is
            ``None`` for an iterable of unknown length).
        keep: Keep at most this many changed orders in the report (all are counted).
        page_size: Orders per store query.

    Returns:
        The report: totals, matches per rule, actions per kind, the changed orders.

    Raises:
        ConfigurationError: a bad window (naive or reversed), ``limit``, ``keep`` or
            ``page_size``.
    """
    if limit is not None and limit < 1:
        raise ConfigurationError(f"limit must be at least 1, got {limit}")
    if keep < 0 or not 1 <= page_size <= 100_000:
        raise ConfigurationError("keep must be >= 0 and page_size within 1..100000")
    scoped = _window_query(query, since, until)
    now = utc_now()
    total: int | None
    stream: Iterable[Order]
    if isinstance(orders, OrderStore):
        effective = scoped if scoped is not None else OrderQuery()
        total = orders.count(effective)
        if effective.after is not None:
            total = None  # count() ignores the cursor; the total is not known
        size = page_size if limit is None else min(page_size, limit + 1)
        stream = _paged(orders, effective, size)
        source = _mask_url(orders.url)
    else:
        total = len(orders) if isinstance(orders, Sized) and scoped is None else None
        stream = orders if scoped is None else (o for o in orders if scoped.matches(o))
        source = "the orders given"
    if limit is not None and total is not None:
        total = min(total, limit)
    context_of: Callable[[Order], RuleContext]
    if context is None or isinstance(context, RuleContext):
        fixed = RuleContext(now=now) if context is None else context
        if fixed.now is None:
            fixed = attrs.evolve(fixed, now=now)
        now = fixed.clock()
        context_of = lambda _order: fixed  # noqa: E731
    else:
        context_of = context
    matches_before: Counter[str] = Counter()
    matches_after: Counter[str] = Counter()
    actions_before: Counter[str] = Counter()
    actions_after: Counter[str] = Counter()
    changes: list[OrderChange] = []
    evaluated = changed = failed_before = failed_after = 0
    limited = False
    if progress is not None:
        progress(0, total)
    for order in stream:
        if limit is not None and evaluated >= limit:
            limited = True
            break
        ctx = context_of(order)
        before, error_before = _decide(active, order, ctx)
        after, error_after = _decide(candidate, order, ctx)
        evaluated += 1
        failed_before += error_before is not None
        failed_after += error_after is not None
        matched_before = before.matched if before is not None else ()
        matched_after = after.matched if after is not None else ()
        matches_before.update(matched_before)
        matches_after.update(matched_after)
        planned_before = before.actions if before is not None else ()
        planned_after = after.actions if after is not None else ()
        actions_before.update(planned.action.name for planned in planned_before)
        actions_after.update(planned.action.name for planned in planned_after)
        described_before = _unique(_echo(p.action.describe()) for p in planned_before)
        described_after = _unique(_echo(p.action.describe()) for p in planned_after)
        change = OrderChange(
            order_id=order.id,
            channel=order.channel,
            channel_order_id=_echo(order.channel_order_id),
            placed_at=order.created_at.utc,
            matched_added=tuple(n for n in matched_after if n not in matched_before),
            matched_removed=tuple(n for n in matched_before if n not in matched_after),
            actions_added=tuple(t for t in described_after if t not in described_before),
            actions_removed=tuple(t for t in described_before if t not in described_after),
            error_before=error_before,
            error_after=error_after,
        )
        if (
            change.matched_added
            or change.matched_removed
            or change.actions_added
            or change.actions_removed
            or error_before != error_after
        ):
            changed += 1
            if len(changes) < keep:
                changes.append(change)
        if progress is not None and evaluated % 100 == 0:
            progress(evaluated, total)
    if progress is not None:
        progress(evaluated, total if total is not None else evaluated)
    candidate_names = candidate.names()
    active_names = active.names() if active is not None else []
    rule_names = candidate_names + [n for n in active_names if n not in candidate_names]
    rules = tuple(
        RuleDelta(
            rule=name,
            before=matches_before[name],
            after=matches_after[name],
            in_active=name in active_names,
            in_candidate=name in candidate_names,
        )
        for name in rule_names
    )
    kinds = sorted(set(actions_before) | set(actions_after))
    return DryRunReport(
        candidate=RuleSetRef.of(candidate),
        active=RuleSetRef.of(active) if active is not None else None,
        source=source,
        since=scoped.created_from if scoped is not None else None,
        until=scoped.created_to if scoped is not None else None,
        now=now,
        evaluated=evaluated,
        changed=changed,
        failed_before=failed_before,
        failed_after=failed_after,
        rules=rules,
        actions=tuple(
            ActionDelta(kind, actions_before[kind], actions_after[kind]) for kind in kinds
        ),
        changes=tuple(changes),
        limited=limited,
    )
