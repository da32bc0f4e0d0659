"""Shared helpers of the deploy tests: settings, stand-in wheels, the template."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from cfn_support import expand

from era5_tools import deploy as d

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
STACK_PATH = ROOT / d.TEMPLATE
ASL_PATH = ROOT / d.STATE_MACHINES["StateMachineDefinition"]

#: A wheel file name as pip downloads them for Glue 4.0 (the longest common tag set).
LONG_TAGS = "cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64"


def raw_template() -> dict:
    """deploy/cloudformation/stack.yaml, parsed as written (its Fn::ForEach loops folded)."""
    return yaml.safe_load(STACK_PATH.read_text())


def template() -> dict:
    """deploy/cloudformation/stack.yaml as CloudFormation sees it after its transform:
    every Fn::ForEach unrolled (Glue4Job ... Glue6Job, HasGlue4Job ...)."""
    return expand(raw_template())


#: The contour jobs' logical ids by Glue version (the loop's names).
GLUE_JOBS = {v: f"{folder.capitalize()}Job" for v, folder in d.GLUE_VERSIONS.items()}


def settings_for(**env: str) -> d.Settings:
    """Settings of a minimal environment, with ``env`` on top."""
    base = {"ERA5_BUCKET": "era5-bucket", "AWS_REGION": "eu-west-1"}
    base.update(env)
    return d.Settings.from_env(base)


def fake_external_libs(folder: Path, tags: str = "py3-none-any") -> Path:
    """Lock and provided files of the repo, with a tiny stand-in for each shipped wheel."""
    folder.mkdir(parents=True, exist_ok=True)
    for target in d.PYTHON_SHELL_LOCKS.values():  # installed by name: no wheels
        for suffix in ("-requirements.lock", "-provided.txt"):
            shutil.copy(ROOT / "external_libs" / f"{target}{suffix}", folder)
    for target in d.GLUE_VERSIONS.values():
        for suffix in ("-requirements.lock", "-provided.txt"):
            shutil.copy(ROOT / "external_libs" / f"{target}{suffix}", folder)
        wheels = folder / target
        wheels.mkdir(exist_ok=True)
        lock = (folder / f"{target}-requirements.lock").read_text()
        for name, version in d.shipped_pins(lock, (folder / f"{target}-provided.txt").read_text()):
            stem = f"{name.replace('-', '_')}-{version}"
            (wheels / f"{stem}-{tags}.whl").write_bytes(f"{target}:{stem}".encode())
    return folder
