"""The examples in docs/guides/rules.md run as written and do what they say."""

from __future__ import annotations

import doctest
import re
from pathlib import Path
from typing import Any

from ordercore.rules import RuleSet

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "rules.md"


class TestGuide:
    def test_the_pycon_examples_run(self) -> None:
        """Every pycon block of the guide runs and prints what the guide shows."""
        blocks = re.findall(r"```pycon\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
        assert len(blocks) >= 3
        parser = doctest.DocTestParser()
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        globs: dict[str, Any] = {}
        for index, block in enumerate(blocks):
            test = parser.get_doctest(block, globs, f"rules.md[{index}]", str(GUIDE), 0)
            runner.run(test, clear_globs=False)
            globs.update(test.globs)  # later blocks go on from earlier ones
        assert runner.failures == 0
        assert runner.tries > 10

    def test_every_yaml_rule_set_in_the_guide_loads(self) -> None:
        """Each YAML rule set shown in the guide is valid as written."""
        blocks = re.findall(r"```yaml\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
        sets = [block for block in blocks if block.startswith("ruleset:")]
        assert len(sets) >= 2
        for block in sets:
            rules = RuleSet.from_text(block, source="rules.md")
            assert rules.rules
