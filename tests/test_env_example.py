""".env.example documents every variable the code and the scripts read."""

from __future__ import annotations

import re
import shutil

import pytest
from glue_images import ENV_EXAMPLE, START, dry_run, parse_docker_run

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
    # The ingest's CDS settings (src/lib/era5_ingest/credentials.py).
    "CDSAPI_URL",
    "CDSAPI_KEY",
    "CDSAPI_RC",
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
