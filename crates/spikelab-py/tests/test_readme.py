"""The README's Python section runs as written."""

from __future__ import annotations

import re

from conftest import REPO


def test_readme_python_block_runs() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Using from Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], "README.md", "exec"), {})
