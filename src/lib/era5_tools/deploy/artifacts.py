"""What the deploy uploads: job scripts, library zips, state machine definition, wheels.

Also what the stack says of the ingest job's modules: the pins of its lock.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .settings import GLUE_VERSIONS, Settings

LIBRARY_ZIP_NAME = "era5_contours.zip"
#: Job scripts: template parameter -> script in the repository. A new Glue job adds its
#: script here and the parameter (and the job) to deploy/cloudformation/stack.yaml.
JOB_SCRIPTS: dict[str, str] = {
    "JobScript": "src/jobs/extract_contours.py",
    "IngestScript": "src/jobs/ingest_era5.py",
}
#: Packages shipped as zips for ``--extra-py-files``: template parameter -> package folder
#: (the zip is named after the package: ``era5_contours.zip``). The contour jobs take the
#: kernel and the contour library, the ingest job the kernel and the ingest package.
LIBRARY_ZIPS: dict[str, str] = {
    "CommonLibraryZip": "src/lib/era5_common",
    "LibraryZip": "src/lib/era5_contours",
    "IngestLibraryZip": "src/lib/era5_ingest",
}
#: Python shell jobs' modules: template parameter -> lock target in external_libs/. Glue
#: Python shell installs them from PyPI by name (``--additional-python-modules``), so the
#: parameter is the lock's pins, not wheels on S3.
PYTHON_SHELL_LOCKS: dict[str, str] = {"IngestPythonModules": "pyshell"}
#: State machine definitions (ASL): template parameter -> file in the repository.
STATE_MACHINES: dict[str, str] = {
    "StateMachineDefinition": "deploy/state_machines/contours.asl.json"
}
#: Hex digits of the SHA-256 in content keys: 48 bits, no collision among a project's files.
HASH_LENGTH = 12
#: The zip's entries get this timestamp so that equal sources give equal bytes.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)$")


def normalise_name(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(text: str, source: str = "<lock>") -> list[tuple[str, str]]:
    """``(normalised name, version)`` of every ``name==version`` line.

    Comments and blank lines are skipped, anything else is an error (a lock must not
    float).
    """
    pins = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip().replace(" ", "")
        if not line:
            continue
        match = _PIN.match(line)
        if not match:
            raise ValueError(f"{source}:{number}: not an exact name==version pin: {raw!r}")
        pins.append((normalise_name(match.group(1)), match.group(2)))
    return pins


def shipped_pins(lock_text: str, provided_text: str) -> list[tuple[str, str]]:
    """The pins of a lock file that Glue does not provide at that exact version."""
    provided = set(parse_pins(provided_text, "<provided>"))
    return [pin for pin in parse_pins(lock_text) if pin not in provided]


def locked_requirements(lock_text: str, provided_text: str) -> list[str]:
    """The lock's ``name==version`` lines, as written, that the runtime does not provide.

    What a Python shell job's ``--additional-python-modules`` lists: the pins verbatim
    (``netCDF4==1.7.2``, not the normalised ``netcdf4``), in lock order.
    """
    provided = set(parse_pins(provided_text, "<provided>"))
    lines = [
        line
        for raw in lock_text.splitlines()
        if (line := raw.split("#", 1)[0].strip().replace(" ", ""))
    ]
    pins = parse_pins("\n".join(lines))  # validates every line
    return [line for line, pin in zip(lines, pins, strict=True) if pin not in provided]


def wheel_pin(filename: str) -> tuple[str, str]:
    """``(normalised name, version)`` of a wheel file name (PEP 427)."""
    stem = filename[: -len(".whl")] if filename.endswith(".whl") else filename
    parts = stem.split("-")
    if len(parts) not in (5, 6):
        raise ValueError(f"not a wheel file name: {filename!r}")
    return normalise_name(parts[0]), parts[1]


def select_wheels(pins: Sequence[tuple[str, str]], directory: Path) -> list[Path]:
    """The wheel in ``directory`` of each pin, in pin order.

    Raises
    ------
    FileNotFoundError
        Listing the pins without a wheel (run ``sh/build_external_libs.sh``).
    """
    by_pin: dict[tuple[str, str], list[Path]] = {}
    for path in sorted(directory.glob("*.whl")) if directory.is_dir() else []:
        by_pin.setdefault(wheel_pin(path.name), []).append(path)
    missing = [f"{n}=={v}" for n, v in pins if (n, v) not in by_pin]
    if missing:
        raise FileNotFoundError(
            f"no wheel in {directory} for {', '.join(missing)}: run sh/build_external_libs.sh"
        )
    chosen = []
    for pin in pins:
        if len(by_pin[pin]) > 1:
            raise ValueError(f"several wheels for {pin[0]}=={pin[1]} in {directory}")
        chosen.append(by_pin[pin][0])
    return chosen


def locked_wheels(external_libs: Path, glue_version: str) -> list[Path]:
    """The wheels to upload for a Glue version, from its lock and provided lists."""
    target = GLUE_VERSIONS[glue_version]
    lock = external_libs / f"{target}-requirements.lock"
    provided = external_libs / f"{target}-provided.txt"
    pins = shipped_pins(lock.read_text(), provided.read_text())
    return select_wheels(pins, external_libs / target)


def build_library_zip(package_dir: Path) -> bytes:
    """The package as a zip for ``--extra-py-files``, byte-for-byte reproducible.

    Entries are sorted, carry a fixed timestamp and mode, and sit under the package's own
    name (``era5_contours/...``) so that Python imports the zip's root. Caches
    (``__pycache__``, ``*.pyc``) are left out.
    """
    package_dir = Path(package_dir)
    files = sorted(
        p
        for p in package_dir.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in files:
            arcname = f"{package_dir.name}/{path.relative_to(package_dir).as_posix()}"
            info = zipfile.ZipInfo(arcname, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            info.create_system = 3  # unix, whatever the building OS
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return buffer.getvalue()


@dataclass(frozen=True)
class Artifact:
    """One object to put on S3."""

    key: str
    body: bytes

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the content."""
        return hashlib.sha256(self.body).hexdigest()

    @property
    def md5(self) -> str:
        """Hex MD5 of the content (S3's ETag of a single-part upload)."""
        return hashlib.md5(self.body, usedforsecurity=False).hexdigest()


def content_key(folder: str, name: str, body: bytes) -> str:
    """``folder/<sha256[:12]>/name``: a key that changes whenever the content does.

    The stack names code by such keys, so new code is a parameter change the change set
    shows, and the objects a rollback returns to are still there.
    """
    return f"{folder}/{hashlib.sha256(body).hexdigest()[:HASH_LENGTH]}/{name}"


@dataclass(frozen=True)
class Artifacts:
    """What a deploy uploads, and what the stack's parameters say of it."""

    items: list[Artifact]
    #: Template parameter -> key under the artifacts prefix (``JobScript`` ->
    #: ``scripts/<hash>/extract_contours.py``).
    keys: dict[str, str]
    #: Glue version -> S3 URIs of its wheels, in lock order.
    wheels: dict[str, list[str]]
    #: Template parameter -> pins a Python shell job installs by name, in lock order.
    modules: dict[str, list[str]]


def build_artifacts(root: Path, settings: Settings) -> Artifacts:
    """Scripts, zips, state machine definitions, wheels and Python shell pins to deploy.

    The wheels are those of the deployed Glue versions' jobs.

    Raises
    ------
    FileNotFoundError
        A script, the definition, a lock file or a wheel is missing.
    """
    prefix = settings.artifacts_prefix
    external_libs = settings.external_libs or root / "external_libs"
    items: list[Artifact] = []
    keys: dict[str, str] = {}

    def add(parameter: str, folder: str, name: str, body: bytes) -> None:
        keys[parameter] = content_key(folder, name, body)
        items.append(Artifact(f"{prefix}/{keys[parameter]}", body))

    for parameter, source in {**JOB_SCRIPTS, **STATE_MACHINES}.items():
        folder = "scripts" if parameter in JOB_SCRIPTS else "state_machines"
        add(parameter, folder, Path(source).name, (root / source).read_bytes())
    for parameter, package in LIBRARY_ZIPS.items():
        package_dir = root / package
        if not package_dir.is_dir():
            raise FileNotFoundError(f"package folder {package_dir} not found")
        add(parameter, "lib", f"{package_dir.name}.zip", build_library_zip(package_dir))
    wheel_uris: dict[str, list[str]] = {}
    for version in settings.job_versions:
        folder = GLUE_VERSIONS[version]
        uris = wheel_uris.setdefault(version, [])
        for wheel in locked_wheels(external_libs, version):
            # Wheel file names carry name and version: a lock change gives new keys.
            key = f"{prefix}/wheels/{folder}/{wheel.name}"
            items.append(Artifact(key, wheel.read_bytes()))
            uris.append(f"s3://{settings.bucket}/{key}")
    modules = {
        parameter: locked_requirements(
            (external_libs / f"{target}-requirements.lock").read_text(),
            (external_libs / f"{target}-provided.txt").read_text(),
        )
        for parameter, target in PYTHON_SHELL_LOCKS.items()
    }
    return Artifacts(items, keys, wheel_uris, modules)
