"""The house's map holds: the README's layout names every module, and the stages hold.

- Every module under ``src/lib`` is named in the README's layout block, and every file or
  folder the block names exists.
- ``era5_contours`` is built in stages (``variables`` < ``inputs``, ``tables`` <
  ``science`` < ``outputs`` < ``commit`` < ``run``): a module imports only from its own
  stage or from those below, never from one above; the kernel ``era5_common`` imports no
  other package of the project; the ingest never imports the contour library or the tools;
  the runtime never imports the tools.
- No function in ``src`` is longer than 80 lines, unless it says why at its start.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "src" / "lib"

#: era5_contours' stages, lowest first; a module may import its own stage or lower ones.
STAGES = {
    "variables": 0,
    "inputs": 1,
    "tables": 1,
    "science": 2,
    "outputs": 3,
    "commit": 4,
    "run": 5,
}
LONG_FUNCTION = 80
#: What a long function says at its start (a comment line) when its length is its clarity.
LONG_ON_PURPOSE = "# Long on purpose:"


def _layout_block() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```\n", 1)[1].split("```", 1)[0].splitlines()


def named_paths() -> set[Path]:
    """The paths the README's layout block names (``a.py, b.py`` lists too)."""
    paths: set[Path] = set()
    parents: list[tuple[int, Path]] = []
    for line in _layout_block():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        names = re.split(r",\s*", re.split(r"\s{2,}", line.strip())[0])
        while parents and parents[-1][0] >= indent:
            parents.pop()
        base = parents[-1][1] if parents else ROOT
        for name in names:
            path = base / name.rstrip("/")
            paths.add(path)
            if name.endswith("/"):
                parents.append((indent, path))
    return paths


def test_the_readme_layout_names_every_module_and_only_what_exists():
    named = named_paths()
    missing = sorted(str(p.relative_to(ROOT)) for p in named if not p.exists())
    assert not missing, f"the README's layout names what does not exist: {missing}"
    modules = {
        p
        for p in LIB.rglob("*.py")
        if p.name != "__init__.py" and p.name != "__main__.py" and "__pycache__" not in p.parts
    }
    # A folder named with its own line stands for the modules its line sums up, as
    # deploy/ does for the deploy tool's; a module of a folder listed module by module
    # must be named itself.
    listed_folders = {p.parent for p in named if p.suffix == ".py"}
    unnamed = sorted(
        str(m.relative_to(ROOT))
        for m in modules
        if m not in named and (m.parent in listed_folders or m.parent not in named)
    )
    assert not unnamed, f"modules missing from the README's layout: {unnamed}"


def _imports(path: Path) -> list[tuple[str, int]]:
    """Absolute names of every project module ``path`` imports (lazy imports included)."""
    package = ".".join(path.relative_to(LIB).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found += [(f"{module}.{a.name}", node.lineno) for a in node.names]
            found.append((module, node.lineno))
    return [(m, n) for m, n in found if m.split(".")[0].startswith("era5_")]


def _stage(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "era5_contours" or len(parts) < 2:
        return None
    return STAGES.get(parts[1])


def test_no_module_imports_from_a_stage_above_its_own():
    upward = []
    for path in sorted(LIB.rglob("*.py")):
        own = path.relative_to(LIB).with_suffix("").parts
        package = own[0]
        own_stage = _stage(".".join(own))
        for module, line in _imports(path):
            target = module.split(".")[0]
            where = f"{path.relative_to(ROOT)}:{line} imports {module}"
            if package == "era5_common" and target != "era5_common":
                upward.append(where + " (the kernel imports no other package)")
            if package == "era5_ingest" and target in ("era5_contours", "era5_tools"):
                upward.append(where + " (the ingest stands on the kernel alone)")
            if package == "era5_contours" and target in ("era5_tools", "era5_ingest"):
                upward.append(where + " (the runtime never imports the tools)")
            if package == "era5_contours" and own_stage is not None:
                stage = _stage(module)
                if stage is not None and stage > own_stage:
                    upward.append(where + " (a stage above)")
    assert not upward, "\n".join(upward)


def test_the_stages_are_the_package_folders():
    folders = {p.name for p in (LIB / "era5_contours").iterdir() if (p / "__init__.py").exists()}
    assert folders == set(STAGES) - {"variables"}


def test_no_function_is_longer_than_80_lines_unless_it_says_why():
    long = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            length = node.end_lineno - node.lineno + 1
            body = lines[node.lineno - 1 : node.end_lineno]
            if length > LONG_FUNCTION and not any(LONG_ON_PURPOSE in ln for ln in body[:40]):
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, "\n".join(long)
