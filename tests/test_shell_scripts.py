"""Every shell script of the repository: parses, shellcheck-clean, strict, no chmod 777."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from glue_images import REPO, START

# --- shellcheck -------------------------------------------------------------------------


def shell_scripts() -> list[Path]:
    return [START, REPO / ".ci" / "run", *sorted((REPO / "sh").glob("*.sh"))]


def test_shell_scripts_parse() -> None:
    for script in shell_scripts():
        proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{script.name}: {proc.stderr}"


def test_shell_scripts_are_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    proc = subprocess.run(
        ["shellcheck", "--severity=style", *map(str, shell_scripts())],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("script", shell_scripts(), ids=lambda p: p.name)
def test_shell_scripts_are_strict_and_never_chmod_777(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert "set -euo pipefail" in text
    assert not re.search(r"\bchmod\b.*\b0?777\b", text)
    assert os.access(script, os.X_OK), f"{script.name} is not executable"
