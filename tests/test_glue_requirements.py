"""requirements/glue*-dev.txt and their constraints against the Glue images and the project."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (the Glue 4.0 image): pytest depends on tomli there
    import tomli as tomllib
from glue_images import GLUE4, REPO, GlueImage, by_version

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
# The type check runs in the project's virtualenv against the dev extras' library versions
# (tests/test_types.py skips without mypy): the images' numpy 1.x annotates ndarray
# differently, so the strict check is not meant to pass there.
TYPE_CHECKING_ONLY = {"mypy", "pyarrow-stubs", "types-boto3", "types-shapely", "types-pyyaml"}


@by_version
def test_requirements_cover_the_projects_needs(glue: GlueImage) -> None:
    pinned = {canonical(r.name): r for r in read_requirements(REPO / glue.requirements)[0]}
    for need in project_needs():
        key = canonical(need.name)
        if key in IMAGE_PROVIDED or key in TYPE_CHECKING_ONLY:
            continue
        assert key in pinned, f"{need} (pyproject.toml) is missing from {glue.requirements}"
        version = str(pinned[key].specifier).removeprefix("==")
        assert need.specifier.contains(version, prereleases=True), (
            f"{glue.requirements} pins {pinned[key]}, pyproject.toml asks {need}"
        )
        # An extra may also be spelled out as its own package (e.g. for some platforms only).
        missing = {e for e in need.extras - pinned[key].extras if canonical(e) not in pinned}
        assert not missing, f"{glue.requirements}: {pinned[key]} lacks extras {missing} of {need}"
