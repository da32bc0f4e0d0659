"""sh/devcontainer_post_create.sh, run against a Python stub that logs its calls."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from glue_images import POST_CREATE, REPO, by_version

# --- sh/devcontainer_post_create.sh -----------------------------------------------------

STUB_PYTHON = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
state = os.environ["STUB_STATE"]
if args[:2] == ["-m", "pip"]:
    if args[2] == "show":
        sys.exit(0 if os.path.exists(state) else 1)
    if args[2] == "install" and "-r" in args and os.environ.get("STUB_PULLS_PYSPARK"):
        open(state, "w").close()
    if args[2] == "uninstall":
        os.remove(state)
    sys.exit(0)
if args[:1] == ["-c"]:
    print("3.10.13")
    sys.exit(0)
if args[:1] == ["-"]:
    sys.stdin.read()
    sys.exit(0)
sys.exit(3)
"""


@pytest.fixture
def post_create(tmp_path: Path):
    """Runs a copy of the post-create script against a Python stub that logs its calls."""
    repo = tmp_path / "repo"
    (repo / "sh").mkdir(parents=True)
    shutil.copy2(POST_CREATE, repo / "sh" / POST_CREATE.name)
    shutil.copytree(REPO / "requirements", repo / "requirements")
    stub = tmp_path / "python-stub"
    stub.write_text(STUB_PYTHON.format(python=sys.executable), encoding="utf-8")
    stub.chmod(0o755)
    log = tmp_path / "calls.jsonl"

    def run(*args: str, **env: str) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
        environment = {
            **os.environ,
            "STUB_LOG": str(log),
            "STUB_STATE": str(tmp_path / "pyspark-installed"),
            **env,
        }
        proc = subprocess.run(
            ["bash", str(repo / "sh" / POST_CREATE.name), "--python", str(stub), *args],
            capture_output=True,
            text=True,
            env=environment,
            check=False,
        )
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return proc, calls

    run.repo = repo  # type: ignore[attr-defined]
    return run


def pip_installs(calls: list[list[str]]) -> list[list[str]]:
    return [c[3:] for c in calls if c[:3] == ["-m", "pip", "install"]]


@by_version
def test_post_create_installs_extras_then_the_project_without_deps(post_create, glue) -> None:
    proc, calls = post_create("--requirements", glue.requirements)
    assert proc.returncode == 0, proc.stderr
    installs = pip_installs(calls)
    assert len(installs) == 2
    extras, project = installs
    assert "--user" in extras
    assert extras[extras.index("-r") + 1] == glue.requirements
    assert {"--user", "--no-deps", "--editable"} <= set(project)
    assert project[-1] == "."
    assert not any("pyspark" in word for install in installs for word in install)


def test_post_create_without_project_skips_the_editable_install(post_create) -> None:
    proc, calls = post_create("--no-project")
    assert proc.returncode == 0, proc.stderr
    installs = pip_installs(calls)
    assert len(installs) == 1
    assert "--editable" not in installs[0]


def test_post_create_refuses_a_requirements_file_naming_pyspark(post_create) -> None:
    bad = post_create.repo / "requirements" / "bad.txt"
    bad.write_text("xarray==2024.3.0\nPySpark==3.3.0\n", encoding="utf-8")
    proc, calls = post_create("--requirements", "requirements/bad.txt")
    assert proc.returncode != 0
    assert "pyspark" in proc.stderr.lower()
    assert pip_installs(calls) == []


def test_post_create_undoes_a_pyspark_pulled_in_by_a_dependency(post_create) -> None:
    proc, calls = post_create(STUB_PULLS_PYSPARK="1")
    assert proc.returncode != 0
    assert ["-m", "pip", "uninstall", "--yes", "pyspark"] in calls
    assert "depends on pyspark" in proc.stderr


def test_post_create_text_never_pip_installs_pyspark() -> None:
    installs = [
        line
        for line in POST_CREATE.read_text(encoding="utf-8").splitlines()
        if re.search(r"(-m pip|^\s*pip3?)\s+install\b", line)
    ]
    assert len(installs) == 2, installs
    for line in installs:
        assert "pyspark" not in line.lower(), line
    project = [line for line in installs if "--editable" in line]
    assert len(project) == 1
    assert "--no-deps" in project[0]
