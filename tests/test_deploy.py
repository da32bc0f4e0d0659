"""Tests of era5_tools.deploy that need no AWS: settings, locks and wheels, the library
zip, artifacts, stack parameters, change set requests, the printed diff, and the deploy's
decisions against a recorded CloudFormation (tests/test_deploy_moto.py deploys to moto's
server; tests/test_deploy_stack.py checks the template and the state machine)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from deploy_support import LONG_TAGS, ROOT, fake_external_libs, settings_for

from era5_tools import deploy as d

# --------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------


def test_settings_defaults_and_derived_names():
    s = settings_for()
    assert (s.prefix, s.stack_name, s.glue_version, s.job_versions) == (
        "era5-contours",
        "era5-contours",
        "4.0",
        ("4.0",),
    )
    assert (s.input_bucket, s.input_prefix) == ("era5-bucket", "era5-contours/input")
    assert (s.database, s.create_database, s.athena_workgroup) == ("climate", True, "primary")
    assert (s.glue_role_arn, s.ingest_role_arn, s.state_machine_role_arn) == (None, None, None)
    assert s.job_name("4.0") == "era5-contours-glue4"
    assert s.job_name("5.0") == "era5-contours-glue5"
    assert s.job_name("5.1") == "era5-contours-glue51"
    assert s.job_name("6.0") == "era5-contours-glue6"
    assert s.ingest_job_name == "era5-contours-ingest"
    assert s.artifacts_prefix == "era5-contours/artifacts"


def test_settings_glue_version_5_given_roles_and_an_existing_database():
    s = settings_for(
        GLUE_VERSION="5",
        GLUE_JOB_VERSIONS="4.0",
        GLUE_ROLE_ARN="arn:aws:iam::1:role/r",
        GLUE_INPUT_PATH="s3://other/raw/era5/",
        ERA5_PREFIX="/p/q/",
        ERA5_CREATE_DATABASE="false",
    )
    assert s.glue_version == "5.0"
    assert s.job_versions == ("5.0", "4.0")  # the state machine's job is always deployed
    assert (s.input_bucket, s.input_prefix, s.prefix) == ("other", "raw/era5", "p/q")
    assert s.glue_role_arn == "arn:aws:iam::1:role/r"
    assert s.create_database is False


@pytest.mark.parametrize(
    ("given", "version"), [("4", "4.0"), ("5.0", "5.0"), ("5.1", "5.1"), ("6", "6.0")]
)
def test_settings_take_every_glue_version_the_stack_defines(given, version):
    s = settings_for(GLUE_VERSION=given, GLUE_JOB_VERSIONS="4,5.1")
    assert s.glue_version == version
    assert set(s.job_versions) == {version, "4.0", "5.1"}  # the chosen one always deployed


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ERA5_BUCKET": ""}, "ERA5_BUCKET"),
        ({"AWS_REGION": ""}, "AWS_REGION"),
        ({"GLUE_VERSION": "3.0"}, "Glue version"),
        ({"GLUE_INPUT_PATH": "data/era5"}, "s3://"),
        ({"GLUE_INPUT_PATH": "s3://bucket-only"}, "key prefix"),
        ({"ERA5_STACK_NAME": "bad name"}, "ERA5_STACK_NAME"),
        ({"ERA5_STACK_NAME": "1stack"}, "start with a letter"),
        ({"ERA5_STACK_NAME": "s" * 42}, "ERA5_STACK_NAME"),
        ({"ERA5_CREATE_DATABASE": "maybe"}, "ERA5_CREATE_DATABASE must be true or false"),
        ({"AWS_MAX_ATTEMPTS": "many"}, "AWS_MAX_ATTEMPTS must be a whole number"),
        ({"AWS_MAX_ATTEMPTS": "0"}, "AWS_MAX_ATTEMPTS must be a whole number"),
    ],
)
def test_settings_reject_bad_environments(env, message):
    with pytest.raises(ValueError, match=message):
        settings_for(**env)


# --------------------------------------------------------------------------------------
# Lock files and wheels
# --------------------------------------------------------------------------------------


def test_parse_pins_normalises_and_rejects_floating_lines():
    text = "# c\nPillow==9.4.0  # glue\n\ntyping_extensions==4.16.0\nnetCDF4==1.7.2\n"
    assert d.parse_pins(text) == [
        ("pillow", "9.4.0"),
        ("typing-extensions", "4.16.0"),
        ("netcdf4", "1.7.2"),
    ]
    for bad in ("numpy>=1.23", "numpy", "pyiceberg[glue]==0.12.0", "-r other.txt"):
        with pytest.raises(ValueError, match="exact"):
            d.parse_pins(bad)


def test_shipped_pins_skip_exactly_the_provided_versions():
    lock = "numpy==1.23.5\npandas==1.5.2\nxarray==2024.3.0\n"
    provided = "numpy==1.23.5\npandas==1.5.1\n"
    assert d.shipped_pins(lock, provided) == [("pandas", "1.5.2"), ("xarray", "2024.3.0")]


def test_locked_requirements_keep_the_lock_spelling_and_skip_the_provided():
    lock = (
        "# the ingest\nnetCDF4==1.7.2  # HDF5 inside\n\ntyping_extensions==4.16.0\nboto3==1.26.0\n"
    )
    provided = "# the runtime\nboto3==1.26.0\n"
    assert d.locked_requirements(lock, provided) == ["netCDF4==1.7.2", "typing_extensions==4.16.0"]
    # Another version than the runtime's is shipped; a floating line is an error.
    assert d.locked_requirements(lock, "boto3==1.34.0\n")[-1] == "boto3==1.26.0"
    with pytest.raises(ValueError, match="exact"):
        d.locked_requirements("numpy>=1.26\n", "")


def test_wheel_pin():
    assert d.wheel_pin("netcdf4-1.7.5.1.post1-cp311-abi3-manylinux_2_28_x86_64.whl") == (
        "netcdf4",
        "1.7.5.1.post1",
    )
    assert d.wheel_pin("pydantic_core-2.50.4-1-cp310-cp310-manylinux2014_x86_64.whl") == (
        "pydantic-core",
        "2.50.4",
    )
    with pytest.raises(ValueError):
        d.wheel_pin("not-a-wheel.whl")


def test_select_wheels_in_pin_order_and_names_missing_ones(tmp_path):
    for name in ("b_pkg-2.0-py3-none-any.whl", "a-1.0-cp310-cp310-manylinux2014_x86_64.whl"):
        (tmp_path / name).write_bytes(b"x")
    chosen = d.select_wheels([("b-pkg", "2.0"), ("a", "1.0")], tmp_path)
    assert [p.name for p in chosen] == [
        "b_pkg-2.0-py3-none-any.whl",
        "a-1.0-cp310-cp310-manylinux2014_x86_64.whl",
    ]
    with pytest.raises(FileNotFoundError, match=r"c==3\.0, a==9"):
        d.select_wheels([("c", "3.0"), ("a", "9"), ("a", "1.0")], tmp_path)


GLUE_TARGETS = list(d.GLUE_VERSIONS.values())


@pytest.mark.parametrize("target", GLUE_TARGETS)
def test_lock_files_are_exact_and_respect_what_glue_provides(target):
    libs = ROOT / "external_libs"
    lock = d.parse_pins((libs / f"{target}-requirements.lock").read_text())
    provided = dict(d.parse_pins((libs / f"{target}-provided.txt").read_text()))
    names = [n for n, _ in lock]
    assert len(names) == len(set(names))
    locked = dict(lock)
    # NumPy and pandas stay as Glue ships them: its compiled stack depends on them.
    assert locked["numpy"] == provided["numpy"]
    assert locked["pandas"] == provided["pandas"]
    # The SDK Glue runs on is never replaced.
    assert not {"boto3", "botocore", "s3transfer"} & set(locked)
    # What the library needs is there, at least at its pyproject floors.
    for name, floor in [("matplotlib", (3, 8)), ("shapely", (2, 1)), ("pyarrow", (18, 0))]:
        assert tuple(int(x) for x in locked[name].split(".")[:2]) >= floor, name
    for name in ("xarray", "netcdf4", "h5netcdf", "h5py", "contourpy", "pyproj", "pyiceberg"):
        assert name in locked


@pytest.mark.parametrize("target", GLUE_TARGETS)
def test_every_runtime_dependency_is_locked_or_provided(target):
    """What pyproject declares for the runtime reaches Glue: from the lock, or from what
    that Glue version provides, at a version that satisfies the declaration."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    libs = ROOT / "external_libs"
    locked = dict(d.parse_pins((libs / f"{target}-requirements.lock").read_text()))
    provided = dict(d.parse_pins((libs / f"{target}-provided.txt").read_text()))
    problems = []
    for line in project["dependencies"]:
        req = Requirement(line)
        name = d.normalise_name(req.name)
        version = locked.get(name) or provided.get(name)
        if version is None:
            problems.append(f"{req.name}: neither locked nor provided")
        elif not req.specifier.contains(Version(version), prereleases=True):
            problems.append(f"{req.name}: {version} does not satisfy {req.specifier}")
    assert problems == []


def test_glue4_keeps_pandas_1_and_pyarrow_with_manylinux2014_wheels():
    locked = dict(d.parse_pins((ROOT / "external_libs" / "glue4-requirements.lock").read_text()))
    assert locked["pandas"].startswith("1.")  # Spark 3.3 breaks on pandas 2
    assert locked["pyarrow"] == "20.0.0"  # last release with manylinux2014 wheels


# --------------------------------------------------------------------------------------
# Library zip
# --------------------------------------------------------------------------------------


def test_library_zip_is_reproducible_sorted_and_importable(tmp_path):
    package = ROOT / "src" / "lib" / "era5_contours"
    cache = package / "__pycache__"
    first = d.build_library_zip(package)
    assert d.build_library_zip(package) == first
    with zipfile.ZipFile(__import__("io").BytesIO(first)) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert "era5_contours/__init__.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert {i.date_time for i in infos} == {d.ZIP_TIMESTAMP}
    expected = sorted(
        f"era5_contours/{p.relative_to(package).as_posix()}"
        for p in package.rglob("*")
        if p.is_file() and cache not in p.parents and p.suffix != ".pyc"
    )
    assert names == expected
    target = tmp_path / "lib.zip"
    target.write_bytes(first)
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(target)!r}); import era5_contours; "
            "print(era5_contours.__file__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(target / "era5_contours" / "__init__.py")


#: What Glue runs: the job's own modules, and nothing of the tools around it.
RUNTIME_MODULES = {
    "__init__",
    *(
        f"inputs/{m}"
        for m in (
            "__init__",
            "netcdf",
            "remote",
            "samples",
            "windows",
            "units",
            "datasets",
            "grids",
            "ncar",
        )
    ),
    *(
        f"science/{m}"
        for m in ("__init__", "daily", "levels", "contours", "coverage", "palettes", "rings")
    ),
    *(
        f"outputs/{m}"
        for m in (
            "__init__",
            "features",
            "geojson",
            "plots",
            "isolines",
            "borders",
            "labels",
            "layout",
        )
    ),
    *(
        f"tables/{m}"
        for m in ("__init__", "schema", "catalog", "datafiles", "filters", "rows", "months")
    ),
    *(
        f"commit/{m}"
        for m in ("__init__", "intent", "lease", "iceberg", "protocol", "publish", "maintenance")
    ),
    *(
        f"run/{m}"
        for m in (
            "__init__",
            "config",
            "planning",
            "tasks",
            "outcome",
            "pipeline",
            "report",
            "spark",
        )
    ),
}
#: The kernel the contour and ingest jobs share, shipped as its own zip.
KERNEL_MODULES = {
    "__init__",
    "storage",
    "area",
    "errors",
    "products",
    "options",
    "glue_args",
    "logs",
    "env",
    "variables",
}


def _zip_modules(data: bytes, package: str) -> set[str]:
    with zipfile.ZipFile(__import__("io").BytesIO(data)) as archive:
        return {n.removeprefix(f"{package}/").removesuffix(".py") for n in archive.namelist()}


def test_library_zips_hold_the_runtime_only(tmp_path):
    contours = d.build_library_zip(ROOT / "src" / "lib" / "era5_contours")
    kernel = d.build_library_zip(ROOT / "src" / "lib" / "era5_common")
    # The modules, and the PEP 561 marker that the wheel carries too.
    assert _zip_modules(contours, "era5_contours") == RUNTIME_MODULES | {"py.typed"}
    assert _zip_modules(kernel, "era5_common") == KERNEL_MODULES | {"py.typed"}
    paths = []
    for name, data in (("era5_common.zip", kernel), ("era5_contours.zip", contours)):
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)
    # Every runtime module imports from the two zips alone, without the tools package.
    modules = ", ".join(
        "era5_contours." + m.replace("/", ".").removesuffix(".__init__")
        for m in sorted(RUNTIME_MODULES - {"__init__"})
    )
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path[:0] = {[str(p) for p in paths]!r}; import {modules}; "
            "print(sorted(m for m in sys.modules if m.startswith('era5_')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = eval(out.stdout)
    assert loaded and all(m.split(".")[0] in ("era5_contours", "era5_common") for m in loaded)
    assert any(m.startswith("era5_common") for m in loaded), loaded


def test_package_library_script_writes_the_same_zips(tmp_path):
    out = tmp_path / "x"
    subprocess.run(
        ["bash", str(ROOT / "sh" / "package_library.sh"), str(out)],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHON": sys.executable},
    )
    written = sorted(p.name for p in out.iterdir())
    assert written == ["era5_common.zip", "era5_contours.zip", "era5_ingest.zip"]
    for name in written:
        package = ROOT / "src" / "lib" / name.removesuffix(".zip")
        assert (out / name).read_bytes() == d.build_library_zip(package)


# --------------------------------------------------------------------------------------
# Chunks
# --------------------------------------------------------------------------------------


def test_chunk_dates_cover_the_range_in_order():
    assert d.chunk_dates(date(2024, 2, 27), date(2024, 3, 2), 2) == [
        (date(2024, 2, 27), date(2024, 2, 28)),
        (date(2024, 2, 29), date(2024, 3, 1)),
        (date(2024, 3, 2), date(2024, 3, 2)),
    ]
    assert d.chunk_dates(date(2024, 1, 1), date(2024, 1, 1)) == [
        (date(2024, 1, 1), date(2024, 1, 1))
    ]
    assert d.chunk_dates(date(2023, 12, 25), date(2024, 1, 14), 7) == [
        (date(2023, 12, 25), date(2023, 12, 31)),
        (date(2024, 1, 1), date(2024, 1, 7)),
        (date(2024, 1, 8), date(2024, 1, 14)),
    ]


def test_chunk_dates_reject_bad_input():
    with pytest.raises(ValueError, match="before"):
        d.chunk_dates(date(2024, 1, 2), date(2024, 1, 1))
    with pytest.raises(ValueError, match="chunk_days"):
        d.chunk_dates(date(2024, 1, 1), date(2024, 1, 2), 0)


def test_chunks_command_prints_the_chunks(capsys):
    assert d.main(["chunks", "2024-01-30", "2024-02-02", "--chunk-days", "3"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"start_date": "2024-01-30", "end_date": "2024-02-01"},
        {"start_date": "2024-02-02", "end_date": "2024-02-02"},
    ]


def build_script(*args: str, libs: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable}
    if libs is not None:
        env["EXTERNAL_LIBS_DIR"] = str(libs)
    return subprocess.run(
        ["bash", str(ROOT / "sh" / "build_external_libs.sh"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


def test_build_script_rejects_a_floating_pin(tmp_path):
    (tmp_path / "glue4-requirements.lock").write_text("numpy==1.23.5\nxarray>=2024\n")
    result = build_script("--check", "glue4", libs=tmp_path)
    assert result.returncode != 0
    assert "not an exact name==version pin: xarray>=2024" in result.stderr


@pytest.mark.integration
@pytest.mark.parametrize("target", GLUE_TARGETS)
def test_each_glue_lock_resolves_for_its_glue_platform(target):
    result = build_script("--check", target)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert f"[{target}] OK" in result.stdout


@pytest.mark.integration
def test_lock_check_fails_when_a_dependency_is_missing_from_the_lock(tmp_path):
    # pandas needs numpy, python-dateutil, pytz and tzdata: a lock of pandas alone is open.
    (tmp_path / "glue5-requirements.lock").write_text("pandas==2.2.2\n")
    result = build_script("--check", "glue5", libs=tmp_path)
    assert result.returncode != 0
    assert "+numpy==" in result.stdout
    assert "pip resolves another set" in result.stderr


# --------------------------------------------------------------------------------------
# Artifacts
# --------------------------------------------------------------------------------------


def sha12(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def test_artifacts_are_keyed_by_their_content(tmp_path):
    libs = fake_external_libs(tmp_path / "libs")
    settings = settings_for(GLUE_JOB_VERSIONS="4,5,5.1,6", EXTERNAL_LIBS_DIR=str(libs))
    built = d.build_artifacts(ROOT, settings)
    script = (ROOT / "src/jobs/extract_contours.py").read_bytes()
    asl = (ROOT / "deploy/state_machines/contours.asl.json").read_bytes()
    zipped = d.build_library_zip(ROOT / "src/lib/era5_contours")
    ingest_script = (ROOT / "src/jobs/ingest_era5.py").read_bytes()
    ingest_zipped = d.build_library_zip(ROOT / "src/lib/era5_ingest")
    kernel_zipped = d.build_library_zip(ROOT / "src/lib/era5_common")
    assert built.keys == {
        "CommonLibraryZip": f"lib/{sha12(kernel_zipped)}/era5_common.zip",
        "JobScript": f"scripts/{sha12(script)}/extract_contours.py",
        "IngestScript": f"scripts/{sha12(ingest_script)}/ingest_era5.py",
        "StateMachineDefinition": f"state_machines/{sha12(asl)}/contours.asl.json",
        "LibraryZip": f"lib/{sha12(zipped)}/era5_contours.zip",
        "IngestLibraryZip": f"lib/{sha12(ingest_zipped)}/era5_ingest.zip",
    }
    bodies = {item.key: item.body for item in built.items}
    prefix = settings.artifacts_prefix
    assert bodies[f"{prefix}/{built.keys['JobScript']}"] == script
    assert bodies[f"{prefix}/{built.keys['IngestScript']}"] == ingest_script
    assert bodies[f"{prefix}/{built.keys['LibraryZip']}"] == zipped
    assert bodies[f"{prefix}/{built.keys['IngestLibraryZip']}"] == ingest_zipped
    assert bodies[f"{prefix}/{built.keys['CommonLibraryZip']}"] == kernel_zipped
    assert bodies[f"{prefix}/{built.keys['StateMachineDefinition']}"] == asl
    # The ingest job installs its lock's pins by name: nothing of it is uploaded.
    pins = [
        line.split("#")[0].strip()
        for line in (libs / "pyshell-requirements.lock").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert built.modules == {"IngestPythonModules": pins}
    for version, folder in d.GLUE_VERSIONS.items():
        wheels = sorted((libs / folder).glob("*.whl"))
        uris = built.wheels[version]
        assert sorted(uris) == sorted(
            f"s3://era5-bucket/{prefix}/wheels/{folder}/{w.name}" for w in wheels
        )
        for uri in uris:
            key = uri.removeprefix("s3://era5-bucket/")
            assert bodies[key] == (libs / folder / uri.rsplit("/", 1)[1]).read_bytes()
    assert len(bodies) == 6 + sum(len(u) for u in built.wheels.values())


def test_changed_code_gets_a_new_key_and_only_the_deployed_jobs_get_wheels(tmp_path):
    libs = fake_external_libs(tmp_path / "libs")
    root = tmp_path / "repo"
    parts = (
        "src/jobs",
        "src/lib/era5_common",
        "src/lib/era5_contours",
        "src/lib/era5_ingest",
        "deploy/state_machines",
    )
    for part in parts:
        shutil.copytree(ROOT / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    settings = settings_for(EXTERNAL_LIBS_DIR=str(libs))
    before = d.build_artifacts(root, settings)
    assert set(before.wheels) == {"4.0"}
    with (root / "src/lib/era5_contours/science/daily.py").open("a") as f:
        f.write("\n# changed\n")
    after = d.build_artifacts(root, settings)
    changed = {k for k in before.keys if after.keys[k] != before.keys[k]}
    assert changed == {"LibraryZip"}
    with (root / "src/lib/era5_ingest/cds.py").open("a") as f:
        f.write("\n# changed\n")
    again = d.build_artifacts(root, settings)
    assert {k for k in after.keys if again.keys[k] != after.keys[k]} == {"IngestLibraryZip"}
    with (root / "src/lib/era5_common/storage.py").open("a") as f:
        f.write("\n# changed\n")
    kernel = d.build_artifacts(root, settings)
    assert {k for k in again.keys if kernel.keys[k] != again.keys[k]} == {"CommonLibraryZip"}
    # A package folder that is not there stops the build instead of zipping nothing.
    shutil.rmtree(root / "src/lib/era5_ingest")
    with pytest.raises(FileNotFoundError, match="era5_ingest"):
        d.build_artifacts(root, settings)


def test_missing_wheels_stop_the_build_naming_them(tmp_path):
    libs = fake_external_libs(tmp_path / "libs")
    victim = sorted((libs / "glue5").glob("*.whl"))[0]
    victim.unlink()
    with pytest.raises(FileNotFoundError, match=r"build_external_libs"):
        d.build_artifacts(ROOT, settings_for(GLUE_VERSION="5", EXTERNAL_LIBS_DIR=str(libs)))


# --------------------------------------------------------------------------------------
# Stack parameters
# --------------------------------------------------------------------------------------


def test_split_list_cuts_between_values_and_joins_back():
    values = [f"s3://b/wheels/pkg{i:02d}-1.0-py3-none-any.whl" for i in range(40)]
    pieces = d.split_list(values, limit=200)
    assert "".join(pieces) == ",".join(values)
    assert all(len(p.encode()) <= 200 for p in pieces)
    assert all(p.startswith(",s3://") for p in pieces[1:])
    # Every cut is between two values: no piece ends inside one.
    assert all(p.rstrip(",").split(",")[-1] in values for p in pieces)
    assert d.split_list([]) == []
    assert d.split_list(["one"]) == ["one"]
    with pytest.raises(ValueError, match="longer than 20 bytes"):
        d.split_list(["x" * 21], limit=20)


def artifacts_for(settings: d.Settings, tmp_path: Path, tags: str = "py3-none-any"):
    libs = fake_external_libs(tmp_path / "libs", tags)
    settings = d.Settings(**{**settings.__dict__, "external_libs": libs})
    return settings, d.build_artifacts(ROOT, settings)


def test_stack_parameters_fill_every_parameter_of_the_template(tmp_path):
    settings, built = artifacts_for(
        settings_for(GLUE_JOB_VERSIONS="4,5,5.1,6", ATHENA_WORKGROUP="wg", ERA5_DATABASE="db"),
        tmp_path,
    )
    template = d.load_template(ROOT)
    values = d.stack_parameters(settings, built, template)
    assert set(values) == set(template.parameters)
    assert values["BucketName"] == "era5-bucket"
    assert values["DataPrefix"] == "era5-contours"
    assert (values["InputBucket"], values["InputPrefix"]) == ("era5-bucket", "era5-contours/input")
    assert (values["DatabaseName"], values["AthenaWorkGroup"]) == ("db", "wg")
    assert {values[f"Deploy{f.capitalize()}Job"] for f in d.GLUE_VERSIONS.values()} == {"true"}
    assert (values["GlueJobRoleArn"], values["StateMachineRoleArn"]) == ("", "")
    assert values["IngestJobRoleArn"] == ""
    assert values["IngestPythonModules"] == ",".join(built.modules["IngestPythonModules"])
    assert values["CreateDatabase"] == "true"
    for parameter, key in built.keys.items():
        assert values[parameter] == key
    for version, folder in d.GLUE_VERSIONS.items():
        stem = f"{folder.capitalize()}Wheels"
        joined = "".join(values[f"{stem}{i}"] for i in (1, 2, 3))
        assert joined == ",".join(built.wheels[version])
    assert all(len(v.encode()) <= d.MAX_PARAMETER_BYTES for v in values.values())


def test_stack_parameters_of_one_job_and_given_roles(tmp_path):
    settings, built = artifacts_for(
        settings_for(
            GLUE_ROLE_ARN="arn:aws:iam::1:role/g",
            INGEST_ROLE_ARN="arn:aws:iam::1:role/i",
            STATE_MACHINE_ROLE_ARN="arn:aws:iam::1:role/s",
            ERA5_CREATE_DATABASE="no",
        ),
        tmp_path,
    )
    values = d.stack_parameters(settings, built, d.load_template(ROOT))
    assert (values["DeployGlue4Job"], values["DeployGlue5Job"]) == ("true", "false")
    assert (values["DeployGlue51Job"], values["DeployGlue6Job"]) == ("false", "false")
    for stem in ("Glue5Wheels", "Glue51Wheels", "Glue6Wheels"):
        assert values[f"{stem}1"] == values[f"{stem}2"] == values[f"{stem}3"] == ""
    assert values["GlueJobRoleArn"] == "arn:aws:iam::1:role/g"
    assert values["StateMachineRoleArn"] == "arn:aws:iam::1:role/s"
    assert values["IngestJobRoleArn"] == "arn:aws:iam::1:role/i"
    assert values["CreateDatabase"] == "false"


@pytest.mark.parametrize("version", list(d.GLUE_VERSIONS))
def test_the_locked_wheels_fit_the_template_with_room_to_spare(tmp_path, version):
    """Real wheel names are long: the URIs of any job's wheels run over the 4,096 bytes
    one parameter holds. Even with the longest bucket name and a long prefix they fit the
    parts the template declares, with one part to spare."""
    settings, built = artifacts_for(
        settings_for(
            ERA5_BUCKET="b" * 63,
            ERA5_PREFIX="data/pipelines/era5-contours",
            GLUE_VERSION=version,
        ),
        tmp_path,
        LONG_TAGS,
    )
    template = d.load_template(ROOT)
    uris = built.wheels[version]
    assert len(",".join(uris).encode()) > d.MAX_PARAMETER_BYTES
    pieces = d.split_list(uris)
    assert len(pieces) < len(template.wheel_parameters(version))
    d.stack_parameters(settings, built, template)  # raises when they do not fit


def test_stack_parameters_refuse_what_the_template_cannot_take(tmp_path):
    settings, built = artifacts_for(settings_for(), tmp_path, LONG_TAGS)
    template = d.load_template(ROOT)
    one_part = d.Template(
        template.text,
        {
            **template.body,
            "Parameters": {
                k: v
                for k, v in template.parameters.items()
                if k not in ("Glue4Wheels2", "Glue4Wheels3")
            },
        },
    )
    with pytest.raises(ValueError, match=r"need 2 parameters .* add Glue4Wheels2"):
        d.stack_parameters(settings, built, one_part)
    missing = d.Template(
        template.text,
        {**template.body, "Parameters": {**template.parameters, "NewOne": {"Type": "String"}}},
    )
    with pytest.raises(ValueError, match=r"no value for the parameter.*NewOne"):
        d.stack_parameters(settings, built, missing)
    unknown = d.Template(
        template.text,
        {
            **template.body,
            "Parameters": {k: v for k, v in template.parameters.items() if k != "JobScript"},
        },
    )
    with pytest.raises(ValueError, match="declares no parameter JobScript"):
        d.stack_parameters(settings, built, unknown)


def test_every_job_script_zip_lock_and_state_machine_is_a_parameter_of_the_template():
    declared = d.load_template(ROOT).parameters
    for parameter, path in {**d.JOB_SCRIPTS, **d.STATE_MACHINES}.items():
        assert parameter in declared, parameter
        assert (ROOT / path).is_file(), path
    for parameter, path in d.LIBRARY_ZIPS.items():
        assert parameter in declared, parameter
        assert (ROOT / path / "__init__.py").is_file(), path
    for parameter, target in d.PYTHON_SHELL_LOCKS.items():
        assert parameter in declared, parameter
        assert (ROOT / "external_libs" / f"{target}-requirements.lock").is_file(), target


# --------------------------------------------------------------------------------------
# Change sets: requests, states, the printed diff
# --------------------------------------------------------------------------------------


def test_change_set_request_and_name():
    name = d.change_set_name("deploy", datetime(2024, 7, 1, 12, 0, 5, tzinfo=timezone.utc))
    assert name.startswith("deploy-20240701T120005Z-")
    assert name != d.change_set_name("deploy", datetime(2024, 7, 1, 12, 0, 5, tzinfo=timezone.utc))
    request = d.change_set_request(
        "st", name, "UPDATE", {"B": "2", "A": "1"}, template_body="body", description="x"
    )
    assert request == {
        "StackName": "st",
        "ChangeSetName": name,
        "ChangeSetType": "UPDATE",
        "Parameters": [
            {"ParameterKey": "A", "ParameterValue": "1"},
            {"ParameterKey": "B", "ParameterValue": "2"},
        ],
        "Capabilities": ["CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        "Tags": [{"Key": "project", "Value": "era5-contours"}],
        "TemplateBody": "body",
        "Description": "x",
    }
    by_url = d.change_set_request("st", name, "CREATE", {}, template_url="https://u")
    assert by_url["TemplateURL"] == "https://u" and "TemplateBody" not in by_url
    with pytest.raises(ValueError):
        d.change_set_request("st", name, "CREATE", {})
    assert d.template_url("b", "eu-west-1", "p/t.yaml") == (
        "https://b.s3.eu-west-1.amazonaws.com/p/t.yaml"
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, "CREATE"),
        ("REVIEW_IN_PROGRESS", "CREATE"),
        ("CREATE_COMPLETE", "UPDATE"),
        ("UPDATE_COMPLETE", "UPDATE"),
        ("UPDATE_ROLLBACK_COMPLETE", "UPDATE"),
        ("ROLLBACK_COMPLETE", "delete-stack --stack-name st"),
        ("UPDATE_ROLLBACK_FAILED", "continue-update-rollback"),
        ("UPDATE_IN_PROGRESS", "busy"),
        ("DELETE_FAILED", "cannot be updated"),
    ],
)
def test_change_set_type_follows_the_stack_state(status, expected):
    stack = None if status is None else {"StackName": "st", "StackStatus": status}
    if expected in ("CREATE", "UPDATE"):
        assert d.change_set_type(stack) == expected
    else:
        with pytest.raises(d.DeployError, match=expected):
            d.change_set_type(stack)


#: DescribeChangeSet's Changes as CloudFormation returns them (shape of the API reference).
DESCRIBED_CHANGES = [
    {
        "Type": "Resource",
        "ResourceChange": {
            "Action": "Modify",
            "LogicalResourceId": "Glue4Job",
            "PhysicalResourceId": "era5-contours-glue4",
            "ResourceType": "AWS::Glue::Job",
            "Replacement": "False",
            "Scope": ["Properties"],
            "Details": [
                {
                    "Target": {
                        "Attribute": "Properties",
                        "Name": "DefaultArguments",
                        "RequiresRecreation": "Never",
                    },
                    "Evaluation": "Static",
                    "ChangeSource": "ParameterReference",
                    "CausingEntity": "LibraryZip",
                },
                {
                    "Target": {
                        "Attribute": "Properties",
                        "Name": "DefaultArguments",
                        "RequiresRecreation": "Never",
                    },
                    "Evaluation": "Dynamic",
                    "ChangeSource": "DirectModification",
                },
            ],
        },
    },
    {
        "Type": "Resource",
        "ResourceChange": {
            "Action": "Modify",
            "LogicalResourceId": "GlueDatabase",
            "ResourceType": "AWS::Glue::Database",
            "Replacement": "True",
            "Details": [
                {
                    "Target": {"Attribute": "Properties", "Name": "DatabaseInput"},
                    "ChangeSource": "ParameterReference",
                    "CausingEntity": "DatabaseName",
                }
            ],
        },
    },
    {
        "Type": "Resource",
        "ResourceChange": {
            "Action": "Add",
            "LogicalResourceId": "Glue5Job",
            "ResourceType": "AWS::Glue::Job",
        },
    },
    {
        "Type": "Resource",
        "ResourceChange": {
            "Action": "Remove",
            "LogicalResourceId": "GlueJobRole",
            "ResourceType": "AWS::IAM::Role",
        },
    },
]


def test_the_diff_names_resource_action_replacement_and_cause():
    rows = d.resource_changes(DESCRIBED_CHANGES)
    assert [(r.action, r.logical_id, r.replacement) for r in rows] == [
        ("Modify", "Glue4Job", "False"),
        ("Modify", "GlueDatabase", "True"),
        ("Add", "Glue5Job", ""),
        ("Remove", "GlueJobRole", ""),
    ]
    assert rows[0].causes == ("DefaultArguments <- LibraryZip", "DefaultArguments")
    lines = [r.line() for r in rows]
    assert lines[0].split() == [
        "Modify",
        "Glue4Job",
        "AWS::Glue::Job",
        "replace:",
        "False",
        "(DefaultArguments",
        "<-",
        "LibraryZip,",
        "DefaultArguments)",
    ]
    assert "replace: True" in lines[1] and "DatabaseInput <- DatabaseName" in lines[1]
    assert lines[2].split() == ["Add", "Glue5Job", "AWS::Glue::Job"]
    assert lines[3].split() == ["Remove", "GlueJobRole", "AWS::IAM::Role"]


def test_parameter_changes_and_no_changes_reasons():
    current = [
        {"ParameterKey": "A", "ParameterValue": "1"},
        {"ParameterKey": "B", "ParameterValue": "2"},
    ]
    assert d.parameter_changes(current, {"A": "1", "B": "3", "C": "x"}) == [
        ("B", "2", "3"),
        ("C", "", "x"),
    ]
    assert d.parameter_changes(current, {"A": "1", "B": "2"}) == []
    assert d.is_no_changes(
        "The submitted information didn't contain changes. Submit different information "
        "to create a change set."
    )
    assert d.is_no_changes("No updates are to be performed.")
    assert not d.is_no_changes("Template format error: Unresolved resource dependencies")
    assert not d.is_no_changes(None)


def test_stack_failure_names_the_first_cause_not_its_consequences():
    events = [
        {"LogicalResourceId": "st", "ResourceType": "AWS::CloudFormation::Stack",
         "ResourceStatus": "UPDATE_IN_PROGRESS", "ResourceStatusReason": "User Initiated"},
        {"LogicalResourceId": "StateMachine", "ResourceType": "AWS::StepFunctions::StateMachine",
         "ResourceStatus": "UPDATE_FAILED", "ResourceStatusReason": "Resource update cancelled"},
        {"LogicalResourceId": "Glue4Job", "ResourceType": "AWS::Glue::Job",
         "ResourceStatus": "UPDATE_FAILED",
         "ResourceStatusReason": "Invalid WorkerType G.3X (Service: Glue, Status Code: 400)"},
        {"LogicalResourceId": "Glue5Job", "ResourceType": "AWS::Glue::Job",
         "ResourceStatus": "UPDATE_FAILED", "ResourceStatusReason": "later failure"},
    ]  # fmt: skip
    stack = {"StackName": "st", "StackStatus": "UPDATE_ROLLBACK_COMPLETE"}
    line = d.stack_failure(stack, events)
    assert line.startswith("stack st is UPDATE_ROLLBACK_COMPLETE: Glue4Job ")
    assert line.endswith("UPDATE_FAILED: Invalid WorkerType G.3X (Service: Glue, Status Code: 400)")
    assert "\n" not in line
    assert d.stack_failure({**stack, "StackStatusReason": "why"}, events[:1]) == (
        "stack st is UPDATE_ROLLBACK_COMPLETE: why"
    )


# --------------------------------------------------------------------------------------
# The deploy's decisions, against a recorded CloudFormation
# --------------------------------------------------------------------------------------


def client_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class RecordedS3:
    """An S3 double holding objects in a dict."""

    def __init__(self):
        self.objects: dict[str, bytes] = {}

    def head_bucket(self, Bucket):
        return {}

    def head_object(self, Bucket, Key):
        if Key not in self.objects:
            raise client_error("404", "Not Found", "HeadObject")
        return {"Metadata": {"sha256": hashlib.sha256(self.objects[Key]).hexdigest()}}

    def put_object(self, Bucket, Key, Body, **kwargs):
        self.objects[Key] = Body


class RecordedCloudFormation:
    """A CloudFormation double answering from a script, recording the calls."""

    def __init__(self, stack=None, change_set=None, final=None, events=()):
        self.stack, self.change_set, self.final = stack, change_set, final
        self.events = list(events)  # newest first, as DescribeStackEvents gives them
        self.calls: list[tuple[str, dict]] = []
        self.executed = False

    def describe_stacks(self, StackName):
        self.calls.append(("describe_stacks", {}))
        stack = self.final if self.executed else self.stack
        if stack is None:
            raise client_error(
                "ValidationError", f"Stack with id {StackName} does not exist", "DescribeStacks"
            )
        return {"Stacks": [stack]}

    def describe_stack_events(self, StackName, NextToken=None):
        return {"StackEvents": self.events if self.executed else self.events[-1:]}

    def execute_change_set(self, **kwargs):
        self.calls.append(("execute_change_set", kwargs))
        self.executed = True

    def create_change_set(self, **kwargs):
        self.calls.append(("create_change_set", kwargs))
        if isinstance(self.change_set, Exception):
            raise self.change_set
        return {"Id": "arn:changeSet/x", "StackId": "arn:stack/x"}

    def describe_change_set(self, **kwargs):
        return {"Changes": [], **self.change_set}

    def __getattr__(self, name):
        def record(**kwargs):
            self.calls.append((name, kwargs))

        return record


@pytest.fixture
def offline(tmp_path):
    libs = fake_external_libs(tmp_path / "libs")
    return settings_for(ERA5_STACK_NAME="st", EXTERNAL_LIBS_DIR=str(libs))


def run_deploy(settings, cfn, dry_run=False, **kwargs):
    lines: list[str] = []
    s3 = RecordedS3()
    outcome = d.deploy(
        settings,
        {"s3": s3, "cloudformation": cfn},
        ROOT,
        dry_run,
        report=lines.append,
        poll_s=0,
        **kwargs,
    )
    return outcome, lines, s3


def names(cfn):
    return [name for name, _ in cfn.calls if name != "describe_stacks"]


def test_a_failed_change_set_is_one_error_with_its_reason_and_is_cleaned_up(offline):
    reason = "No export named era5-network-SubnetIds found. Rollback requested by user."
    cfn = RecordedCloudFormation(change_set={"Status": "FAILED", "StatusReason": reason})
    with pytest.raises(d.DeployError) as info:
        run_deploy(offline, cfn)
    assert str(info.value).startswith("change set deploy-")
    assert str(info.value).endswith(f"of stack st failed: {reason}")
    # Not executed; the change set and the empty stack its creation made are deleted.
    assert names(cfn) == ["create_change_set", "delete_change_set", "delete_stack"]


def test_a_refused_change_set_request_is_one_error(offline):
    cfn = RecordedCloudFormation(
        stack={"StackName": "st", "StackStatus": "UPDATE_COMPLETE", "Parameters": []},
        change_set=client_error(
            "ValidationError",
            "Template format error: Unresolved resource dependencies [Nope] in the Resources "
            "block of the template",
            "CreateChangeSet",
        ),
    )
    with pytest.raises(d.DeployError, match=r"^creating the change set of stack st failed: "):
        run_deploy(offline, cfn)
    assert names(cfn) == ["create_change_set"]


def test_no_changes_is_no_error_and_leaves_no_change_set(offline):
    cfn = RecordedCloudFormation(
        stack={"StackName": "st", "StackStatus": "UPDATE_COMPLETE", "Parameters": []},
        change_set={
            "Status": "FAILED",
            "StatusReason": "The submitted information didn't contain changes. Submit "
            "different information to create a change set.",
        },
    )
    outcome, _, _ = run_deploy(offline, cfn)
    assert outcome.result == "no changes"
    assert names(cfn) == ["create_change_set", "delete_change_set"]  # the stack stays
    assert d.summary(outcome, False) == ["no changes: stack st is up to date"]


def test_a_rolled_back_update_is_one_error_naming_the_failed_resource(offline):
    events = [
        {"EventId": "5", "LogicalResourceId": "st", "ResourceType": "AWS::CloudFormation::Stack",
         "ResourceStatus": "UPDATE_ROLLBACK_COMPLETE"},
        {"EventId": "4", "LogicalResourceId": "Glue4Job", "ResourceType": "AWS::Glue::Job",
         "ResourceStatus": "UPDATE_FAILED",
         "ResourceStatusReason": "Role arn:aws:iam::1:role/x should be given assume role "
                                 "permissions for Glue Service."},
        {"EventId": "3", "LogicalResourceId": "st", "ResourceType": "AWS::CloudFormation::Stack",
         "ResourceStatus": "UPDATE_IN_PROGRESS", "ResourceStatusReason": "User Initiated"},
        {"EventId": "1", "LogicalResourceId": "st", "ResourceType": "AWS::CloudFormation::Stack",
         "ResourceStatus": "CREATE_COMPLETE"},
    ]  # fmt: skip
    cfn = RecordedCloudFormation(
        stack={"StackName": "st", "StackStatus": "CREATE_COMPLETE", "Parameters": []},
        change_set={"Status": "CREATE_COMPLETE", "Changes": DESCRIBED_CHANGES[:1]},
        final={"StackName": "st", "StackStatus": "UPDATE_ROLLBACK_COMPLETE"},
        events=events,
    )
    lines: list[str] = []
    with pytest.raises(d.DeployError) as info:
        d.deploy(
            offline,
            {"s3": RecordedS3(), "cloudformation": cfn},
            ROOT,
            report=lines.append,
            poll_s=0,
        )
    assert " ".join(str(info.value).split()) == (
        "stack st is UPDATE_ROLLBACK_COMPLETE: Glue4Job AWS::Glue::Job UPDATE_FAILED: Role "
        "arn:aws:iam::1:role/x should be given assume role permissions for Glue Service."
    )
    # The events since the execution were reported as they came, oldest first.
    reported = [line.split()[0] for line in lines if line.startswith("  ")]
    assert reported == ["st", "Glue4Job", "st"]
    assert "delete_change_set" not in names(cfn)  # an executed change set is the stack's


def test_an_update_reports_its_events_changes_and_outputs(offline):
    events = [
        {"EventId": "4", "LogicalResourceId": "st", "ResourceType": "AWS::CloudFormation::Stack",
         "ResourceStatus": "UPDATE_COMPLETE"},
        {"EventId": "3", "LogicalResourceId": "Glue4Job", "ResourceType": "AWS::Glue::Job",
         "ResourceStatus": "UPDATE_COMPLETE"},
        {"EventId": "2", "LogicalResourceId": "st", "ResourceType": "AWS::CloudFormation::Stack",
         "ResourceStatus": "UPDATE_IN_PROGRESS", "ResourceStatusReason": "User Initiated"},
        {"EventId": "1", "LogicalResourceId": "st", "ResourceType": "AWS::CloudFormation::Stack",
         "ResourceStatus": "CREATE_COMPLETE"},
    ]  # fmt: skip
    arn = "arn:aws:states:eu-west-1:1:stateMachine:st"
    cfn = RecordedCloudFormation(
        stack={
            "StackName": "st",
            "StackStatus": "CREATE_COMPLETE",
            "Parameters": [{"ParameterKey": "LibraryZip", "ParameterValue": "lib/0/x.zip"}],
        },
        change_set={"Status": "CREATE_COMPLETE", "Changes": DESCRIBED_CHANGES[:1]},
        final={
            "StackName": "st",
            "StackStatus": "UPDATE_COMPLETE",
            "Outputs": [{"OutputKey": "StateMachineArn", "OutputValue": arn}],
        },
        events=events,
    )
    outcome, lines, s3 = run_deploy(offline, cfn)
    assert outcome.result == "updated"
    assert names(cfn) == ["create_change_set", "execute_change_set"]
    assert len(s3.objects) == len(d.build_artifacts(ROOT, offline).items)
    assert [line.split()[:2] for line in lines if line.startswith("  ")] == [
        ["st", "AWS::CloudFormation::Stack"],
        ["Glue4Job", "AWS::Glue::Job"],
        ["st", "AWS::CloudFormation::Stack"],
    ]
    text = d.summary(outcome, False)
    assert text[0] == "parameters:"
    assert any(line.startswith("  LibraryZip: lib/0/x.zip -> lib/") for line in text)
    assert f"  StateMachineArn = {arn}" in text
    assert text[-1] == "done: stack st updated, 1 resource change(s)"


def test_a_dry_run_uploads_nothing_executes_nothing_and_deletes_its_change_set(offline):
    cfn = RecordedCloudFormation(
        stack={
            "StackName": "st",
            "StackStatus": "UPDATE_COMPLETE",
            "Parameters": [{"ParameterKey": "AthenaWorkGroup", "ParameterValue": "old"}],
        },
        change_set={"Status": "CREATE_COMPLETE", "Changes": DESCRIBED_CHANGES},
    )
    outcome, lines, s3 = run_deploy(offline, cfn, dry_run=True)
    assert s3.objects == {}
    assert all(line.startswith("would upload ") for line in lines)
    assert names(cfn) == ["create_change_set", "delete_change_set"]
    assert outcome.result == "planned"
    assert ("AthenaWorkGroup", "old", "primary") in outcome.parameters
    text = d.summary(outcome, True)
    assert "  AthenaWorkGroup: old -> primary" in text
    assert text[-1].startswith("dry run: 4 resource change(s); change set dry-run-")
    assert text[-1].endswith("not executed and deleted")


def test_a_busy_stack_stops_the_run_before_anything_is_uploaded(offline):
    cfn = RecordedCloudFormation(stack={"StackName": "st", "StackStatus": "UPDATE_IN_PROGRESS"})
    s3 = RecordedS3()
    with pytest.raises(d.DeployError, match=r"^stack st is busy \(UPDATE_IN_PROGRESS\)"):
        d.deploy(offline, {"s3": s3, "cloudformation": cfn}, ROOT, poll_s=0)
    assert s3.objects == {}
    assert names(cfn) == []


def test_a_template_too_big_to_send_goes_by_s3(offline):
    cfn = RecordedCloudFormation(
        change_set={"Status": "FAILED", "StatusReason": "No updates are to be performed."}
    )
    outcome, _, s3 = run_deploy(offline, cfn, dry_run=True, max_template_body=1000)
    assert outcome.result == "no changes"
    (request,) = [kw for name, kw in cfn.calls if name == "create_change_set"]
    assert "TemplateBody" not in request
    text = (ROOT / d.TEMPLATE).read_bytes()
    key = f"era5-contours/artifacts/templates/{sha12(text)}/stack.yaml"
    assert request["TemplateURL"] == f"https://era5-bucket.s3.eu-west-1.amazonaws.com/{key}"
    assert s3.objects == {key: text}  # the one object even a dry run needs
