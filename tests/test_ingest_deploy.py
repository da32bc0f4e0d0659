"""The ingest's part of the deployment: the state machine's ingest stage, its artifacts, its lock.

The ingest job and its role are resources of deploy/cloudformation/stack.yaml, checked
with the other jobs and roles in tests/test_deploy_stack.py (options, uploaded keys,
grants, parliament, cfn-lint) and created on moto in tests/test_deploy_moto.py. Here: the
state machine runs the stack's ingest job once per month before the contour chunks, its
JSONata (evaluated with the jsonata npm package) plans the months as the calendar does,
the uploaded zips import alone as Glue Python shell imports them, and the lock resolves
for the Python shell platform.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import pytest
from deploy_support import ROOT, settings_for, template
from test_deploy import build_script
from test_deploy_stack import (
    asl,
    evaluate_jsonata,
    jsonata_body,
    node_tools,  # noqa: F401 - the fixture
    resolved,
)

from era5_ingest.cds_requests import Month, months_between
from era5_tools import deploy as d


def test_state_machine_runs_the_ingest_months_before_the_contour_chunks(tmp_path):
    machine = asl()
    states = machine["States"]
    assert states["CheckPlan"]["Choices"][0]["Next"] == "IngestWanted"
    assert states["IngestWanted"]["Choices"][0]["Next"] == "IngestMonths"
    assert states["IngestWanted"]["Default"] == "RunChunks"
    ingest = states["IngestMonths"]
    assert ingest["Type"] == "Map" and ingest["Next"] == "RunChunks"
    assert ingest["Catch"][0]["Next"] == "Failed"
    task = ingest["ItemProcessor"]["States"]["RunIngestJob"]
    assert task["Resource"] == "arn:aws:states:::glue:startJobRun.sync"
    assert task["Arguments"]["JobName"] == "${INGEST_JOB_NAME}"
    retried = {e for r in task["Retry"] for e in r["ErrorEquals"]}
    assert "Glue.ConcurrentRunsExceededException" in retried
    assert not retried & {"States.TaskFailed", "States.ALL", "States.Timeout"}
    # The placeholder is the stack's ingest job, which the state machine's role may run.
    resolver, _ = resolved(settings_for(ERA5_STACK_NAME="contours"), tmp_path)
    resources = resolver.resources()
    job = resources["IngestJob"]
    substitutions = resources["StateMachine"]["DefinitionSubstitutions"]
    assert substitutions["INGEST_JOB_NAME"] == job["Name"] == "contours-ingest"
    (policy,) = resources["StateMachineRole"]["Policies"]
    grants = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if s["Resource"] == f"arn:aws:glue:eu-west-1:123456789012:job/{job['Name']}"
    ]
    assert grants and {"glue:StartJobRun", "glue:GetJobRun"} <= set(grants[0]["Action"])
    # Low: the CDS queues per user; never above what the job lets run at once.
    assert 1 <= ingest["MaxConcurrency"] <= job["ExecutionProperty"]["MaxConcurrentRuns"]
    # The contour chunks read where the ingest writes.
    assert substitutions["INPUT_PATH"] == job["DefaultArguments"]["--output_path"]


def expected_months(start: str, end: str, dataset: str, area: str, variables=None) -> list:
    """The ingest runs of a range, computed here with the calendar."""
    months = months_between(Month.parse(start[:7]), Month.parse(end[:7]))
    extra = {"--variables": variables} if variables else {}
    return [
        {
            "month": str(m),
            "arguments": {
                "--start_month": str(m),
                "--end_month": str(m),
                "--dataset": dataset,
                "--area": area,
                "--next_day": "true" if i == len(months) - 1 else "false",
                **extra,
            },
        }
        for i, m in enumerate(months)
    ]


@pytest.mark.integration
def test_plan_state_plans_the_ingest_months_and_points_the_chunks_at_them(node_tools):  # noqa: F811
    machine = asl()
    plan = machine["States"]["Plan"]["Assign"]
    expressions = {
        "valid": jsonata_body(machine["States"]["Validate"]["Choices"][0]["Condition"]),
        "months": jsonata_body(plan["months"]),
        "chunks": jsonata_body(plan["chunks"]),
    }
    area = "52,-6,40,10"
    cases = [
        {
            "start_date": "2020-07-01",
            "end_date": "2020-08-31",
            "ingest": {"dataset": "era5", "area": area},
        },
        {
            "start_date": "2020-11-15",
            "end_date": "2021-02-03",
            "chunk_days": 30,
            "variables": "tp",
            "ingest": {"dataset": "era5-land", "area": "10.5, 70, -5.25, 80.75"},
        },
        {
            "start_date": "2024-02-29",
            "end_date": "2024-02-29",
            "ingest": {"dataset": "era5", "area": area},
        },
        {"start_date": "2024-01-01", "end_date": "2024-01-09"},
    ]
    results = evaluate_jsonata(expressions, cases)
    for case, result in zip(cases, results, strict=True):
        assert result["valid"] is True, case
        ingest = case.get("ingest")
        if ingest is None:
            assert result["months"] == []
            assert all("--input_path" not in c["arguments"] for c in result["chunks"])
            continue
        assert result["months"] == expected_months(
            case["start_date"],
            case["end_date"],
            ingest["dataset"],
            ingest["area"],
            case.get("variables"),
        ), case
        chunks = d.chunk_dates(
            date.fromisoformat(case["start_date"]),
            date.fromisoformat(case["end_date"]),
            case.get("chunk_days", 7),
        )
        assert len(result["chunks"]) == len(chunks)
        for chunk in result["chunks"]:
            assert chunk["arguments"]["--input_path"] == "${INPUT_PATH}" + ingest["dataset"] + "/"
            assert chunk["arguments"]["--dataset"] == ingest["dataset"]


@pytest.mark.integration
def test_validate_state_rejects_bad_ingest_inputs(node_tools):  # noqa: F811
    condition = jsonata_body(asl()["States"]["Validate"]["Choices"][0]["Condition"])
    base = {"start_date": "2024-01-01", "end_date": "2024-01-02"}
    bad = [
        {**base, "ingest": "era5"},
        {**base, "ingest": {"dataset": "merra2", "area": "1,0,0,1"}},
        {**base, "ingest": {"dataset": "era5"}},
        {**base, "ingest": {"dataset": "era5", "area": "1,0,0"}},
        {**base, "ingest": {"dataset": "era5", "area": [1, 0, 0, 1]}},
        {**base, "ingest": {"dataset": "era5", "area": "north,0,0,1"}},
    ]
    good = [{**base, "ingest": {"dataset": "era5-land", "area": "-5,-60.5,-20,-40"}}]
    results = evaluate_jsonata({"valid": condition}, bad + good)
    assert [r["valid"] for r in results] == [False] * len(bad) + [True]


def test_the_uploaded_ingest_zips_import_alone(tmp_path):
    """What --extra-py-files gives the Python shell job: the two uploaded zips, nothing else."""
    resolver, built = resolved(settings_for(), tmp_path / "deploy")
    job = resolver.resources()["IngestJob"]
    bodies = {f"s3://era5-bucket/{item.key}": item.body for item in built.items}
    zips = []
    for uri in job["DefaultArguments"]["--extra-py-files"].split(","):
        zips.append(tmp_path / uri.rsplit("/", 1)[1])
        zips[-1].write_bytes(bodies[uri])
    kernel_zip, ingest_zip = zips
    with zipfile.ZipFile(ingest_zip) as archive:
        names = archive.namelist()
    assert "era5_ingest/ingest.py" in names and all(n.startswith("era5_ingest/") for n in names)
    with zipfile.ZipFile(kernel_zip) as archive:
        names = archive.namelist()
    assert "era5_common/storage.py" in names and all(n.startswith("era5_common/") for n in names)
    script = tmp_path / "ingest_era5.py"
    script.write_bytes(bodies[job["Command"]["ScriptLocation"]])
    code = (
        "import runpy, sys; script = sys.argv[3]; sys.path[:0] = sys.argv[1:3];"
        "sys.argv = [script, '--help']; runpy.run_path(script, run_name='__main__')"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code, str(ingest_zip), str(kernel_zip), str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "--cds_secret_id" in out.stdout and "--max_parallel_requests" in out.stdout
    probe = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]];"
        "import era5_ingest.ingest, era5_ingest.cds, era5_ingest.credentials;"
        "print(era5_ingest.ingest.__file__);"
        "print(sorted(m for m in sys.modules if m.startswith('era5_')))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(ingest_zip), str(kernel_zip)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    where, loaded = out.stdout.splitlines()
    assert where == str(ingest_zip / "era5_ingest" / "ingest.py")
    # The ingest runs on its package and the kernel alone: no contour library, no tools.
    assert {m.split(".")[0] for m in eval(loaded)} == {"era5_ingest", "era5_common"}


def test_the_ingest_is_in_every_deployment():
    """The ingest job has no switch: the stack always holds it (the state machine's stage
    needs it whenever an input asks for ingest)."""
    resources = template()["Resources"]
    assert "Condition" not in resources["IngestJob"]
    assert resources["IngestJobRole"]["Condition"] == "CreateIngestJobRole"
    assert "IngestScript" in d.JOB_SCRIPTS and "IngestLibraryZip" in d.LIBRARY_ZIPS


@pytest.mark.integration
def test_pyshell_lock_resolves_for_the_python_shell_platform():
    result = build_script("--check", "pyshell")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "[pyshell] OK" in result.stdout
    assert Path(ROOT / "external_libs" / "pyshell-requirements.lock").is_file()
