"""Write each ```python block of a Markdown file to its own module, to type-check it as user code.

Usage: ``python tests/typing/extract_readme.py README.md OUT_DIR``

Each block becomes ``<stem>_block_<n>.py`` in OUT_DIR, padded with blank lines so
that a type checker's line numbers are those of the Markdown file.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def extract(markdown: Path, out: Path) -> list[Path]:
    """Write the Python blocks of ``markdown`` into ``out`` and return the files written.

    Raises:
        SystemExit: ``markdown`` has no ```python block, so there would be nothing to check.
    """
    text = markdown.read_text(encoding="utf-8")
    stem = re.sub(r"\W", "_", markdown.stem.lower())
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for index, match in enumerate(BLOCK.finditer(text), start=1):
        first_line = text.count("\n", 0, match.start(1)) + 1
        header = f"# {markdown.name}, code block {index}: line numbers are the Markdown file's\n"
        path = out / f"{stem}_block_{index}.py"
        path.write_text(header + "\n" * (first_line - 2) + match.group(1), encoding="utf-8")
        written.append(path)
    if not written:
        raise SystemExit(f"{markdown} has no ```python code block")
    return written


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit("usage: python tests/typing/extract_readme.py MARKDOWN OUT_DIR")
    for path in extract(Path(argv[0]), Path(argv[1])):
        print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
