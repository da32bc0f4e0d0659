"""What AWS documents about the Glue dev images, and helpers shared by the tests of the
dev container files: JSONC, and start_dev_container.sh run in a sandbox with --dry-run.

The image facts come from AWS's "Develop and test AWS Glue jobs locally using a Docker
image" (Glue 4.0 and 5.0 pages and blog posts).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "tests" / "data" / "schemas" / "devContainer.base.schema.json"
START = REPO / "start_dev_container.sh"
POST_CREATE = REPO / "sh" / "devcontainer_post_create.sh"
ENV_EXAMPLE = REPO / ".env.example"


@dataclass(frozen=True)
class GlueImage:
    """What AWS documents about one Glue dev image, and where this repository uses it."""

    version: str
    config: Path
    images: frozenset[str]
    home: str
    python: str
    interpreter: str
    extra_paths: tuple[str, ...]
    py4j: str
    forwarded_ports: frozenset[int]
    requirements: str
    constraints: str


GLUE4 = GlueImage(
    version="4",
    config=REPO / ".devcontainer" / "devcontainer.json",
    images=frozenset(
        {
            "public.ecr.aws/glue/aws-glue-libs:glue_libs_4.0.0_image_01",
            "amazon/aws-glue-libs:glue_libs_4.0.0_image_01",
        }
    ),
    home="/home/glue_user",
    python="python3",
    interpreter="/usr/bin/python3",
    extra_paths=(
        "/home/glue_user/aws-glue-libs/PyGlue.zip",
        "/home/glue_user/spark/python/lib/py4j-0.10.9.5-src.zip",
        "/home/glue_user/spark/python",
    ),
    # Spark 3.3 (Glue 4.0) ships py4j 0.10.9.5.
    py4j="0.10.9.5",
    forwarded_ports=frozenset({4040, 18080, 8888}),
    requirements="requirements/glue4-dev.txt",
    constraints="requirements/glue4-constraints.txt",
)
GLUE5 = GlueImage(
    version="5",
    config=REPO / ".devcontainer" / "glue5" / "devcontainer.json",
    images=frozenset({"public.ecr.aws/glue/aws-glue-libs:5", "amazon/aws-glue-libs:5"}),
    home="/home/hadoop",
    python="python3.11",
    interpreter="/usr/bin/python3.11",
    extra_paths=(
        "/usr/lib/spark/python/lib/py4j-0.10.9.7-src.zip",
        "/usr/lib/spark/python",
        "/usr/lib/spark/python/lib",
    ),
    py4j="0.10.9.7",
    # JupyterLab and Livy were removed from the 5.0 image.
    forwarded_ports=frozenset({4040, 18080}),
    requirements="requirements/glue5-dev.txt",
    constraints="requirements/glue5-constraints.txt",
)
IMAGES = (GLUE4, GLUE5)
by_version = pytest.mark.parametrize("glue", IMAGES, ids=lambda g: f"glue{g.version}")


def strip_jsonc(text: str) -> str:
    """Remove ``//`` and ``/* */`` comments and trailing commas, leaving strings untouched.

    Parameters
    ----------
    text
        JSON with comments (the devcontainer.json dialect).

    Returns
    -------
    str
        Plain JSON; line breaks inside removed comments are kept so error positions hold.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == '"':
            end = i + 1
            while end < n and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[i : end + 1])
            i = end + 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end == -1 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end == -1:
                raise ValueError(f"unterminated block comment at offset {i}")
            out.append("\n" * text.count("\n", i, end))
            i = end + 2
        else:
            out.append(char)
            i += 1
    # Second pass: a comma followed only by whitespace and a closing bracket goes.
    plain = "".join(out)
    result: list[str] = []
    i, n = 0, len(plain)
    while i < n:
        char = plain[i]
        if char == '"':
            end = i + 1
            while end < n and plain[end] != '"':
                end += 2 if plain[end] == "\\" else 1
            result.append(plain[i : end + 1])
            i = end + 1
            continue
        if char == ",":
            j = i + 1
            while j < n and plain[j] in " \t\r\n":
                j += 1
            if j < n and plain[j] in "]}":
                i += 1
                continue
        result.append(char)
        i += 1
    return "".join(result)


def load_jsonc(path: Path) -> dict:
    return json.loads(strip_jsonc(path.read_text(encoding="utf-8")))


@dataclass
class DockerRun:
    """A parsed ``docker run`` command line."""

    argv: list[str]
    options: list[tuple[str, str | None]]
    image: str
    inner: str
    mode_args: list[str]

    def values(self, *flags: str) -> list[str]:
        return [value for flag, value in self.options if flag in flags and value is not None]

    def flags(self) -> set[str]:
        return {flag for flag, _ in self.options}


# docker run options used by the script that take a value.
VALUE_FLAGS = {"--name", "--workdir", "-w", "-v", "--volume", "-e", "--env", "-p", "--publish"}


def parse_docker_run(line: str) -> DockerRun:
    argv = shlex.split(line)
    assert argv[:2] == ["docker", "run"], line
    options: list[tuple[str, str | None]] = []
    i = 2
    while argv[i].startswith("-"):
        flag = argv[i]
        if flag in VALUE_FLAGS:
            options.append((flag, argv[i + 1]))
            i += 2
        else:
            options.append((flag, None))
            i += 1
    image = argv[i]
    assert argv[i + 1] == "-c", "commands go to the image's login bash as -c"
    return DockerRun(argv, options, image, argv[i + 2], argv[i + 4 :])


@pytest.fixture
def sandbox(tmp_path: Path):
    """A throwaway repository root holding a copy of the script, and a clean environment."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy2(START, repo / START.name)
    (repo / "src" / "jobs").mkdir(parents=True)
    (repo / "src" / "jobs" / "job.py").write_text("print('job')\n", encoding="utf-8")
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "GLUE_", "ERA5_", "SPARK_", "JUPYTER_"))
        and key not in {"DOCKER"}
    }
    env.update(HOME=str(home), AWS_PROFILE="dev-profile")
    return repo, env


def dry_run(sandbox, *args: str, **env: str) -> subprocess.CompletedProcess:
    repo, base = sandbox
    return subprocess.run(
        ["bash", str(repo / START.name), "--dry-run", *args],
        capture_output=True,
        text=True,
        env={**base, **env},
        stdin=subprocess.DEVNULL,
        cwd=repo,
        check=False,
    )


def docker_run(sandbox, *args: str, **env: str) -> DockerRun:
    proc = dry_run(sandbox, *args, **env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    return parse_docker_run(lines[0])


def mount_options(spec: str) -> dict[str, str]:
    """Parse a ``docker --mount`` string; flags without a value map to ``""``."""
    options = {}
    for part in spec.split(","):
        key, _, value = part.partition("=")
        options[key.strip()] = value.strip()
    return options
