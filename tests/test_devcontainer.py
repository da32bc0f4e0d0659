"""The Glue dev container: .devcontainer/, start_dev_container.sh, sh/, requirements/glue*.

The image facts below come from AWS's "Develop and test AWS Glue jobs locally using a
Docker image" (Glue 4.0 and 5.0 pages and blog posts). The tests check the repository's
files against those facts, against the official Dev Container schema, and against each
other (the docker-run script and the Dev Containers must describe the same container).
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (the Glue 4.0 image): pytest depends on tomli there
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO.parent / "shared" / "schemas" / "devContainer.base.schema.json"
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


# --- JSONC ------------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("jsonc", "expected"),
    [
        ('{"url": "http://example.com//x"} // trailing', {"url": "http://example.com//x"}),
        (
            '{"a": "/* not a comment */", /* comment */ "b": 1}',
            {"a": "/* not a comment */", "b": 1},
        ),
        ('{"q": "say \\"//\\" twice", "n": [1, 2,],}', {"q": 'say "//" twice', "n": [1, 2]}),
        ('{"s": "a,]"}', {"s": "a,]"}),
        (
            '{"p": "C:\\\\", // backslash ends the string\n "x": [ {"y": 1} , ]\n}',
            {"p": "C:\\", "x": [{"y": 1}]},
        ),
    ],
)
def test_strip_jsonc_keeps_strings_intact(jsonc: str, expected: dict) -> None:
    assert json.loads(strip_jsonc(jsonc)) == expected


def test_strip_jsonc_rejects_unterminated_block_comment() -> None:
    with pytest.raises(ValueError, match="unterminated"):
        strip_jsonc('{"a": 1 /* oops }')


# --- Schema -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator():
    if not SCHEMA.is_file():
        pytest.skip(f"Dev Container schema not found: {SCHEMA} (../shared/schemas is absent)")
    jsonschema = pytest.importorskip("jsonschema")
    schema = load_jsonc(SCHEMA)
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


@by_version
def test_devcontainer_matches_official_schema(validator, glue: GlueImage) -> None:
    errors = sorted(validator.iter_errors(load_jsonc(glue.config)), key=str)
    assert errors == [], "\n".join(error.message for error in errors)


@pytest.mark.parametrize(
    "change",
    [
        {"imagee": "typo"},
        {"forwardPorts": ["not-a-port!"]},
        {"portsAttributes": {"4040": {"onAutoForward": "sometimes"}}},
    ],
    ids=["unknown-property", "bad-port", "bad-port-attribute"],
)
def test_schema_validation_catches_mistakes(validator, change: dict) -> None:
    config = {**load_jsonc(GLUE4.config), **change}
    assert list(validator.iter_errors(config)), f"{change} passed validation"


# --- devcontainer.json facts ------------------------------------------------------------


def mount_options(spec: str) -> dict[str, str]:
    """Parse a ``docker --mount`` string; flags without a value map to ``""``."""
    options = {}
    for part in spec.split(","):
        key, _, value = part.partition("=")
        options[key.strip()] = value.strip()
    return options


@by_version
def test_image_and_user(glue: GlueImage) -> None:
    config = load_jsonc(glue.config)
    assert config["image"] in glue.images
    assert config["remoteUser"] == glue.home.rsplit("/", 1)[-1]


@by_version
def test_workspace_is_mounted_at_the_image_workspace(glue: GlueImage) -> None:
    config = load_jsonc(glue.config)
    workspace = f"{glue.home}/workspace"
    assert config["workspaceFolder"] == workspace
    mount = mount_options(config["workspaceMount"])
    assert mount["source"] == "${localWorkspaceFolder}"
    assert mount["target"] == workspace
    assert mount["type"] == "bind"


@by_version
def test_aws_profiles_are_mounted_read_only(glue: GlueImage) -> None:
    mounts = [mount_options(m) for m in load_jsonc(glue.config)["mounts"]]
    aws = [m for m in mounts if m.get("target") == f"{glue.home}/.aws"]
    assert len(aws) == 1, mounts
    assert aws[0]["type"] == "bind"
    assert aws[0]["source"].endswith("/.aws")
    assert {"readonly", "ro"} & aws[0].keys()


@by_version
def test_container_env(glue: GlueImage) -> None:
    env = load_jsonc(glue.config)["containerEnv"]
    # Passed through from the host, with a fallback when the host has none.
    assert re.fullmatch(r"\$\{localEnv:AWS_PROFILE:[^}]+\}", env["AWS_PROFILE"])
    if glue is GLUE4:
        assert env["DATALAKE_FORMATS"] == "iceberg"
        assert env["DISABLE_SSL"] == "true"
    else:
        # Iceberg, Hudi and Delta are always loaded in 5.0; the variable is gone.
        assert "DATALAKE_FORMATS" not in env


@by_version
def test_forwarded_ports_are_labelled(glue: GlueImage) -> None:
    config = load_jsonc(glue.config)
    assert set(config["forwardPorts"]) == glue.forwarded_ports
    labels = {int(port): attrs["label"] for port, attrs in config["portsAttributes"].items()}
    assert set(labels) == glue.forwarded_ports
    assert "Spark UI" in labels[4040]
    assert "history" in labels[18080].lower()
    if 8888 in labels:
        assert "Jupyter" in labels[8888]


@by_version
def test_vscode_settings(glue: GlueImage) -> None:
    vscode = load_jsonc(glue.config)["customizations"]["vscode"]
    assert {"ms-python.python", "ms-toolsai.jupyter", "charliermarsh.ruff"} <= set(
        vscode["extensions"]
    )
    settings = vscode["settings"]
    assert settings["python.defaultInterpreterPath"] == glue.interpreter
    assert settings["python.testing.pytestEnabled"] is True


@by_version
def test_extra_paths_are_separate_entries_of_the_image_layout(glue: GlueImage) -> None:
    paths = load_jsonc(glue.config)["customizations"]["vscode"]["settings"][
        "python.analysis.extraPaths"
    ]
    assert isinstance(paths, list)
    for path in paths:
        assert ":" not in path, f"colon-joined entry: {path}"
        assert path.startswith("/")
    assert [p.rstrip("/") for p in paths] == list(glue.extra_paths)
    py4j = [p for p in paths if "py4j" in p]
    assert py4j == [p for p in glue.extra_paths if p.endswith(f"py4j-{glue.py4j}-src.zip")]


def test_glue5_py4j_matches_spark_35() -> None:
    """The venv's pyspark is 3.5, the Spark of Glue 5.0: its py4j pin must be ours."""
    try:
        version = metadata.version("pyspark")
        requires = metadata.requires("pyspark") or []
    except metadata.PackageNotFoundError:
        pytest.skip("pyspark is not installed as a distribution here")
    if not version.startswith("3.5."):
        pytest.skip(f"pyspark {version} is not Spark 3.5")
    pins = [Requirement(r) for r in requires if r.startswith("py4j")]
    assert pins and all(pin.specifier.contains(GLUE5.py4j) for pin in pins), pins


@by_version
def test_post_create_installs_the_images_requirements(glue: GlueImage) -> None:
    command = load_jsonc(glue.config)["postCreateCommand"]
    words = command if isinstance(command, list) else shlex.split(command)
    assert "sh/devcontainer_post_create.sh" in words
    assert words[words.index("--requirements") + 1] == glue.requirements
    assert words[words.index("--python") + 1] == glue.python
    assert (REPO / glue.requirements).is_file()


def devcontainer_cli() -> str | None:
    """The @devcontainers/cli executable: $DEVCONTAINER_CLI, PATH, or ./node_modules."""
    candidates = [
        os.environ.get("DEVCONTAINER_CLI"),
        shutil.which("devcontainer"),
        str(REPO / "node_modules" / ".bin" / "devcontainer"),
    ]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@pytest.mark.integration
@by_version
@pytest.mark.parametrize("profile", [None, "analytics"])
def test_devcontainer_cli_resolves_the_variables(tmp_path, glue: GlueImage, profile) -> None:
    """The reference implementation substitutes ${localEnv:...} as the tests assume.

    ``devcontainer read-configuration`` asks Docker for existing containers first and
    accepts invalid files, so it is no validator; with a Docker stub that reports no
    container it still parses the JSONC and substitutes the variables, offline.
    """
    cli = devcontainer_cli()
    if cli is None:
        pytest.skip("@devcontainers/cli not found (npm install @devcontainers/cli)")
    docker = tmp_path / "docker"
    docker.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    docker.chmod(0o755)
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in {"AWS_PROFILE", "USERPROFILE"}}
    env["HOME"] = str(home)
    if profile:
        env["AWS_PROFILE"] = profile
    proc = subprocess.run(
        [
            cli,
            "read-configuration",
            "--docker-path",
            str(docker),
            "--workspace-folder",
            str(REPO),
            "--config",
            str(glue.config),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    resolved = json.loads(proc.stdout)["configuration"]
    assert resolved["containerEnv"]["AWS_PROFILE"] == (profile or "default")
    assert mount_options(resolved["workspaceMount"])["source"] == str(REPO)
    aws = [mount_options(m) for m in resolved["mounts"]]
    assert [m["source"] for m in aws if m["target"] == f"{glue.home}/.aws"] == [f"{home}/.aws"]
    # Its JSONC parser and strip_jsonc read the same document.
    mine = load_jsonc(glue.config)
    for key in ("customizations", "forwardPorts", "portsAttributes", "postCreateCommand"):
        assert resolved[key] == mine[key], key


# --- requirements -----------------------------------------------------------------------


def read_requirements(path: Path) -> tuple[list[Requirement], list[str]]:
    """Requirements and ``-c`` constraint files named in a pip requirements file."""
    requirements, constraints = [], []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-c ", "--constraint ")):
            constraints.append(line.split(maxsplit=1)[1])
            continue
        assert not line.startswith("-"), f"unexpected option in {path.name}: {line}"
        requirements.append(Requirement(line))
    return requirements, constraints


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@by_version
def test_requirements_never_install_pyspark(glue: GlueImage) -> None:
    requirements, constraints = read_requirements(REPO / glue.requirements)
    assert "pyspark" not in {canonical(r.name) for r in requirements}
    assert constraints == [Path(glue.constraints).name]
    pinned, _ = read_requirements(REPO / glue.constraints)
    pyspark = [r for r in pinned if canonical(r.name) == "pyspark"]
    # The constraint admits no release at all, so pip refuses anything that needs pyspark.
    assert len(pyspark) == 1
    for version in ("0.0.1", "2.4.8", "3.3.0", "3.5.4", "4.0.0"):
        assert not pyspark[0].specifier.contains(version, prereleases=True)


@by_version
def test_constraints_keep_the_images_numpy_and_pandas(glue: GlueImage) -> None:
    constraints, _ = read_requirements(REPO / glue.constraints)
    spec = {canonical(r.name): r.specifier for r in constraints}
    assert not spec["numpy"].contains("2.0.0")
    assert spec["numpy"].contains("1.26.4")
    # Spark 3.3 (Glue 4.0) predates pandas 2; Spark 3.5 (Glue 5.0) predates pandas 3.
    assert not spec["pandas"].contains("2.0.0" if glue is GLUE4 else "3.0.0")


@by_version
def test_requirements_are_pinned(glue: GlueImage) -> None:
    requirements, _ = read_requirements(REPO / glue.requirements)
    loose = [str(r) for r in requirements if not str(r.specifier).startswith("==")]
    assert loose == []


def project_needs() -> list[Requirement]:
    """The project's runtime, local and dev requirements, extras expanded, minus pyspark."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    name = canonical(project["name"])
    extras = project.get("optional-dependencies", {})
    needs, seen = [], set()

    def add(lines: list[str]) -> None:
        for line in lines:
            req = Requirement(line)
            if canonical(req.name) == name:
                for extra in sorted(req.extras - seen):
                    seen.add(extra)
                    add(extras.get(extra, []))
            elif canonical(req.name) != "pyspark":
                needs.append(req)

    add(project.get("dependencies", []))
    for extra in ("local", "dev"):
        if extra not in seen:
            seen.add(extra)
            add(extras.get(extra, []))
    return needs


# Shipped by both images; the requirements files leave them alone on purpose.
IMAGE_PROVIDED = {"numpy", "boto3"}


@by_version
def test_requirements_cover_the_projects_needs(glue: GlueImage) -> None:
    pinned = {canonical(r.name): r for r in read_requirements(REPO / glue.requirements)[0]}
    for need in project_needs():
        key = canonical(need.name)
        if key in IMAGE_PROVIDED:
            continue
        assert key in pinned, f"{need} (pyproject.toml) is missing from {glue.requirements}"
        version = str(pinned[key].specifier).removeprefix("==")
        assert need.specifier.contains(version, prereleases=True), (
            f"{glue.requirements} pins {pinned[key]}, pyproject.toml asks {need}"
        )
        # An extra may also be spelled out as its own package (e.g. for some platforms only).
        missing = {e for e in need.extras - pinned[key].extras if canonical(e) not in pinned}
        assert not missing, f"{glue.requirements}: {pinned[key]} lacks extras {missing} of {need}"


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


# --- shellcheck -------------------------------------------------------------------------


def shell_scripts() -> list[Path]:
    return [START, *sorted((REPO / "sh").glob("*.sh"))]


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


# --- start_dev_container.sh --dry-run ---------------------------------------------------


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


MODES = {
    "shell": ([], {4040, 18080}),
    "pytest": (["-x", "-k", "not slow"], set()),
    "pyspark": ([], {4040, 18080}),
    "jupyter": ([], {8888, 4040, 18080}),
    "submit": (["src/jobs/job.py", "--JOB_NAME", "local run"], {4040, 18080}),
}


@pytest.mark.parametrize("mode", MODES)
def test_dry_run_flags(sandbox, mode: str) -> None:
    repo, env = sandbox
    args, ports = MODES[mode]
    run = docker_run(sandbox, mode, *args)
    workspace = "/home/glue_user/workspace" + ("/jupyter_workspace" if mode == "jupyter" else "")

    assert "--rm" in run.flags()
    assert "-i" in run.flags()
    assert not {"-t", "-it", "--tty"} & run.flags(), "no TTY attached, so no -t"
    assert run.values("--name")
    assert run.image == "public.ecr.aws/glue/aws-glue-libs:glue_libs_4.0.0_image_01"
    assert run.values("--workdir", "-w") == [workspace]

    volumes = [v.split(":") for v in run.values("-v", "--volume")]
    assert [str(repo.resolve()), workspace + "/"] in volumes
    assert [env["HOME"] + "/.aws", "/home/glue_user/.aws", "ro"] in volumes
    assert not any("AWS_PROFILE" in v for v in run.values("-v", "--volume"))

    environment = run.values("-e", "--env")
    assert "AWS_PROFILE=dev-profile" in environment
    assert "DISABLE_SSL=true" in environment
    assert "DATALAKE_FORMATS=iceberg" in environment

    published = [p.rsplit(":", 2) for p in run.values("-p", "--publish")]
    assert {int(container) for _, _, container in published} == ports
    assert all(address == "127.0.0.1" and host == port for address, host, port in published)

    assert "777" not in " ".join(run.argv)
    assert "sh/devcontainer_post_create.sh" in run.inner
    assert f"--requirements {GLUE4.requirements}" in run.inner
    assert not re.search(r"pip[^&|;]*install[^&|;]*pyspark", run.inner)


@pytest.mark.parametrize(
    ("mode", "command"),
    [
        ("shell", "exec bash"),
        ("pytest", 'exec python3 -m pytest "$@"'),
        ("pyspark", 'exec pyspark "$@"'),
        ("jupyter", "exec /home/glue_user/jupyter/jupyter_start.sh"),
        ("submit", 'exec spark-submit "$@"'),
    ],
)
def test_dry_run_runs_the_mode_command_last(sandbox, mode: str, command: str) -> None:
    run = docker_run(sandbox, mode, *MODES[mode][0])
    assert run.inner.endswith(command)


def test_submit_passes_script_and_arguments_through_the_login_shell(sandbox, tmp_path) -> None:
    """Run the generated inner command with bash and a spark-submit stub: words survive."""
    words = ["--x", "a b", "$HOME", "it's", 'say "hi"', ""]
    run = docker_run(sandbox, "--no-install", "submit", "src/jobs/job.py", *words)
    assert run.mode_args == ["/home/glue_user/workspace/src/jobs/job.py", *words]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "spark-submit"
    stub.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "print(json.dumps({'argv': sys.argv[1:], 'pythonpath': os.environ['PYTHONPATH']}))\n",
        encoding="utf-8",
    )
    stub.chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": "/image/zip"}
    proc = subprocess.run(
        ["bash", "-c", run.inner, "submit", *run.mode_args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    seen = json.loads(proc.stdout)
    assert seen["argv"] == run.mode_args
    assert seen["pythonpath"] == "/image/zip:/home/glue_user/workspace/src/lib"


def test_pytest_arguments_are_kept_verbatim(sandbox) -> None:
    run = docker_run(sandbox, "pytest", "-m", "not integration", "tests/test_x.py::test_y")
    assert run.mode_args == ["-m", "not integration", "tests/test_x.py::test_y"]


def test_no_install_skips_the_post_create_step(sandbox) -> None:
    run = docker_run(sandbox, "--no-install", "pytest")
    assert "devcontainer_post_create.sh" not in run.inner


def test_tty_gets_interactive_terminal_flags(sandbox) -> None:
    repo, env = sandbox
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            ["bash", str(repo / START.name), "--dry-run", "shell"],
            stdin=terminal,
            stdout=terminal,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=repo,
        )
        os.close(terminal)
        output = b""
        while True:
            ready, _, _ = select.select([controller], [], [], 10)
            if not ready:
                break
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: the script is done
                break
            if not chunk:
                break
            output += chunk
        assert proc.wait(timeout=10) == 0
    finally:
        os.close(controller)
    run = parse_docker_run(output.decode().strip().splitlines()[-1])
    assert "-it" in run.flags()


def test_glue5_layout(sandbox) -> None:
    run = docker_run(sandbox, "pytest", GLUE_VERSION="5")
    assert run.image == "public.ecr.aws/glue/aws-glue-libs:5"
    assert run.values("--workdir", "-w") == ["/home/hadoop/workspace"]
    assert [v for v in run.values("-v") if v.endswith(":ro")] == [
        f"{sandbox[1]['HOME']}/.aws:/home/hadoop/.aws:ro"
    ]
    assert not any(e.startswith("DATALAKE_FORMATS") for e in run.values("-e"))
    assert 'exec python3.11 -m pytest "$@"' in run.inner
    assert f"--requirements {GLUE5.requirements}" in run.inner


def test_glue_version_is_guessed_from_the_image(sandbox) -> None:
    run = docker_run(sandbox, "shell", GLUE_IMAGE="amazon/aws-glue-libs:5")
    assert run.image == "amazon/aws-glue-libs:5"
    assert run.values("--workdir") == ["/home/hadoop/workspace"]


def test_glue5_has_no_jupyter(sandbox) -> None:
    proc = dry_run(sandbox, "jupyter", GLUE_VERSION="5")
    assert proc.returncode != 0
    assert "Glue 4.0" in proc.stderr
    assert proc.stdout == ""


def test_missing_aws_folder_is_not_mounted(sandbox) -> None:
    _, env = sandbox
    shutil.rmtree(Path(env["HOME"]) / ".aws")
    proc = dry_run(sandbox, "pytest")
    assert proc.returncode == 0, proc.stderr
    run = parse_docker_run(proc.stdout.strip())
    assert [v for v in run.values("-v") if "/.aws" in v] == []
    assert f"{env['HOME']}/.aws not found" in proc.stderr


def test_dotenv_is_read_and_the_environment_wins(sandbox) -> None:
    repo, env = sandbox
    (repo / ".env").write_text(
        "# comment\n"
        "export AWS_PROFILE='from-dotenv'\n"
        'GLUE_IMAGE="registry.example/glue:glue_libs_4.0.0_image_01"  # trailing comment\n'
        "ERA5_DATABASE=climate\n"
        "ERA5_START_DATE=2024-07-01\n"
        "SPARK_UI_PORT=14040\n",
        encoding="utf-8",
    )
    del env["AWS_PROFILE"]
    run = docker_run(sandbox, "pyspark")
    assert "AWS_PROFILE=from-dotenv" in run.values("-e")
    assert run.image == "registry.example/glue:glue_libs_4.0.0_image_01"
    # Every ERA5_ option reaches the job, by name: docker copies the exported value.
    assert {"ERA5_DATABASE", "ERA5_START_DATE"} <= set(run.values("-e"))
    assert "127.0.0.1:14040:4040" in run.values("-p")

    run = docker_run(sandbox, "pyspark", AWS_PROFILE="from-shell")
    assert "AWS_PROFILE=from-shell" in run.values("-e")


def test_secrets_are_passed_by_name_only(sandbox) -> None:
    run = docker_run(
        sandbox,
        "pytest",
        AWS_SECRET_ACCESS_KEY="s3cr3t",
        AWS_ACCESS_KEY_ID="AKIA",
        AWS_ENDPOINT_URL_S3="http://127.0.0.1:5000",
        UNRELATED_TOKEN="t0k3n",
    )
    passed = set(run.values("-e"))
    assert {"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL_S3"} <= passed
    assert not any(name.startswith("UNRELATED") for name in passed)
    assert "s3cr3t" not in " ".join(run.argv)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "missing MODE"),
        (["deploy"], "unknown MODE"),
        (["submit"], "SCRIPT"),
        (["submit", "/etc/hostname"], "inside the repository"),
        (["--bogus", "shell"], "unknown option"),
    ],
)
def test_bad_usage_fails_with_a_message(sandbox, args: list[str], message: str) -> None:
    proc = dry_run(sandbox, *args)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert proc.stdout == ""


def test_help_lists_every_mode(sandbox) -> None:
    repo, env = sandbox
    proc = subprocess.run(
        ["bash", str(repo / START.name), "--help"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0
    for mode in MODES:
        assert re.search(rf"^\s+{mode}\b", proc.stdout, re.MULTILINE), mode
    assert "--dry-run" in proc.stdout


@by_version
def test_script_and_devcontainer_describe_the_same_container(sandbox, glue: GlueImage) -> None:
    config = load_jsonc(glue.config)
    run = docker_run(sandbox, "pyspark", GLUE_VERSION=glue.version)
    assert run.image == config["image"]
    assert run.values("--workdir") == [config["workspaceFolder"]]
    aws_target = next(
        mount_options(m)["target"]
        for m in config["mounts"]
        if "/.aws" in mount_options(m)["target"]
    )
    assert any(v.endswith(f":{aws_target}:ro") for v in run.values("-v"))
    container_env = {k: v for k, v in config["containerEnv"].items() if k != "AWS_PROFILE"}
    passed = dict(e.split("=", 1) for e in run.values("-e") if "=" in e)
    assert {k: passed.get(k) for k in container_env} == container_env
    published = {int(p.rsplit(":", 1)[1]) for p in run.values("-p")}
    assert published <= set(config["forwardPorts"])


# --- .env.example -----------------------------------------------------------------------

DOCUMENTED = [
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "GLUE_IMAGE",
    "GLUE_VERSION",
    "ERA5_INPUT_PATH",
    "ERA5_OUTPUT_PATH",
    "ERA5_CATALOG_TYPE",
    "ERA5_WAREHOUSE_PATH",
    "ERA5_DATABASE",
    "PYSPARK_PYTHON",
]


def env_example_entries() -> dict[str, tuple[str, bool, list[str]]]:
    """Variable -> (value, commented out, comment lines right above it)."""
    entries, comments = {}, []
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"(# )?([A-Z][A-Z0-9_]*)=(.*)", line)
        if match:
            entries[match[2]] = (match[3], bool(match[1]), comments)
            comments = []
        elif line.startswith("#"):
            comments = [*comments, line]
        else:
            comments = []
    return entries


def test_env_example_documents_every_variable() -> None:
    entries = env_example_entries()
    missing = [name for name in DOCUMENTED if name not in entries]
    assert missing == []
    for name, (_, _, comments) in entries.items():
        assert any(c.strip("# -") for c in comments), f"{name} has no comment above it"
    assert entries["ERA5_DATABASE"][0] == "climate"
    assert entries["ERA5_CATALOG_TYPE"][0] in {"sql", "glue"}


def test_env_example_names_every_setting_the_script_reads() -> None:
    script = START.read_text(encoding="utf-8")
    read = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):-", script)) - {"HOME"}
    assert read - env_example_entries().keys() == set()


def test_env_example_parses_the_same_for_the_script_and_python_dotenv(sandbox) -> None:
    dotenv = pytest.importorskip("dotenv")
    repo, env = sandbox
    shutil.copy2(ENV_EXAMPLE, repo / ".env")
    del env["AWS_PROFILE"]
    proc = dry_run(sandbox, "pyspark")
    assert proc.returncode == 0, proc.stderr
    assert "ignored" not in proc.stderr
    run = parse_docker_run(proc.stdout.strip())
    values = dotenv.dotenv_values(ENV_EXAMPLE)
    assert run.image == values["GLUE_IMAGE"]
    assert f"AWS_PROFILE={values['AWS_PROFILE']}" in run.values("-e")
    assert f"127.0.0.1:{values['SPARK_UI_PORT']}:4040" in run.values("-p")
    # The job's ERA5_* defaults are commented out in the example: none is passed...
    assert not [v for v in run.values("-e") if v.startswith("ERA5_")]
    # ...until the user sets them, and then by name only (values stay out of the command).
    (repo / ".env").write_text(
        (repo / ".env").read_text() + "ERA5_INPUT_PATH=s3://b/in\nERA5_DATABASE=weather\n"
    )
    run = parse_docker_run(dry_run(sandbox, "pyspark").stdout.strip())
    for name in ("ERA5_INPUT_PATH", "ERA5_DATABASE"):
        assert name in run.values("-e")
