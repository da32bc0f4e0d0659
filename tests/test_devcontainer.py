"""The Dev Container configurations: JSONC, the official schema, and the image facts."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from importlib import metadata

import pytest
from glue_images import (
    GLUE4,
    GLUE5,
    REPO,
    SCHEMA,
    GlueImage,
    by_version,
    load_jsonc,
    mount_options,
    strip_jsonc,
)
from packaging.requirements import Requirement


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
        pytest.skip(f"Dev Container schema not found: {SCHEMA}")
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
