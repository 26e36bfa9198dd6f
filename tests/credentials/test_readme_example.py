"""The README's example runs and prints what it says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import credentials

README = Path(credentials.__file__).parent / "README.md"


def test_readme_example_runs_and_revocation_fails() -> None:
    text = README.read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S)
    assert code is not None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), str(README), "exec"), {})  # noqa: S102 - our own README
    lines = out.getvalue().splitlines()
    assert lines[0] == "True"
    assert lines[1] == "False fail"
    assert lines[2].startswith("{'verified': False, 'checks': [")
