"""The built-in rule packs (D13-D19), shipped in the package as YAML files.

Each pack is an ordinary rule set file under ``ordercore/rules/packs/``: read it,
copy it, change its SKUs and thresholds, and load the copy with
:func:`~ordercore.rules.load_rules`. ``ordercore rules packs`` lists them and
writes copies.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from typing import Any, Final

import attrs
import yaml

from ordercore.errors import ConfigurationError
from ordercore.rules._ruleset import RuleSet
from ordercore.rules._syntax import LIMITS, Limits

__all__ = ["PACKS", "Pack", "load_pack", "load_packs", "pack_text"]


@attrs.frozen(slots=True)
class Pack:
    """One built-in pack.

    Attributes:
        name: Its short name (``gifts``), also its file name without ``.yaml``.
        scenarios: The business scenarios it covers (``D13, D15``).
        summary: One line about what it does.
    """

    name: str
    scenarios: str
    summary: str

    @property
    def filename(self) -> str:
        """``gifts.yaml``."""
        return f"{self.name}.yaml"


#: The built-in packs, in the order :func:`load_packs` combines them.
PACKS: Final[dict[str, Pack]] = {
    pack.name: pack
    for pack in (
        Pack("gifts", "D13, D15, D5", "a pillow with every Douyin sofa, only on that order"),
        Pack("shipping", "D14", "free shipping at 299 after coupons, across combined orders"),
        Pack("fulfilment", "D15, D16", "split short stock; route urgent, engraved, East China"),
        Pack("review", "D17", "hold vague addresses, abnormal amounts, high value"),
        Pack("risk", "D18", "freeze a phone with >5 returns in 24 h across 3+ orders"),
        Pack("carriers", "D19", "switch from SF when its 24 h delivery rate is below 65 %"),
    )
}


def _pack(name: str) -> Pack:
    try:
        return PACKS[name]
    except KeyError:
        raise ConfigurationError(
            f"no built-in rule pack {name!r}; the packs are: {', '.join(PACKS)}"
        ) from None


def pack_text(name: str) -> str:
    """The YAML text of the pack ``name``, to read or copy.

    Raises:
        ConfigurationError: there is no such pack.
    """
    pack = _pack(name)
    return resources.files("ordercore.rules").joinpath("packs", pack.filename).read_text("utf-8")


def load_pack(name: str, *, limits: Limits = LIMITS) -> RuleSet:
    """Load the built-in pack ``name`` (``gifts``, ``shipping``, ...) as a rule set.

    Raises:
        ConfigurationError: there is no such pack.
    """
    return RuleSet.from_text(pack_text(name), source=f"ordercore:packs/{name}.yaml", limits=limits)


def load_packs(
    names: Iterable[str] | None = None,
    *,
    ruleset: str = "ordercore.builtin",
    version: int = 1,
    limits: Limits = LIMITS,
) -> RuleSet:
    """Combine built-in packs (all of them by default) into one rule set.

    The rules keep their names, priorities and groups; the groups' modes are the packs'.
    Exclusive slots (shipping, route, carrier) go to the higher priority.

    Raises:
        ConfigurationError: a name is not a pack.
    """
    chosen = list(PACKS) if names is None else [_pack(name).name for name in names]
    groups: dict[str, Any] = {}
    rules: list[Any] = []
    for name in chosen:
        data = yaml.safe_load(pack_text(name))
        groups.update(data.get("groups") or {})
        rules.extend(data["rules"])
    combined = {
        "ruleset": ruleset,
        "version": version,
        "description": "ordercore's built-in packs: " + ", ".join(chosen),
        "groups": groups,
        "conflicts": "priority",
        "rules": rules,
    }
    return RuleSet.from_dict(combined, source="ordercore:packs", limits=limits)
