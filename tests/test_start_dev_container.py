"""start_dev_container.sh, run with --dry-run in a sandbox: the docker run it would start."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from glue_images import (
    GLUE4,
    GLUE5,
    START,
    GlueImage,
    by_version,
    docker_run,
    dry_run,
    load_jsonc,
    mount_options,
    parse_docker_run,
)

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
