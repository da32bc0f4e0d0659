"""The README's generated parts: its table of contents and the option tables of both jobs.

The option tables are rendered from the jobs' own option lists
(:data:`era5_contours.run.config.JOB_OPTIONS`, :data:`era5_ingest.config.INGEST_OPTIONS`)
between marker comments, so the README cannot drift from the code::

    python -m era5_tools.readme           # rewrite README.md's generated parts
    python -m era5_tools.readme --check   # exit 1 if they are stale (the tests run this)
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from era5_common.options import markdown_table
from era5_tools import repository_root

_BLOCK = re.compile(r"(<!-- (?P<name>[\w:-]+) -->\n)(?P<body>.*?)(<!-- /(?P=name) -->)", re.S)


def _job_options() -> str:
    from era5_contours.run.config import JOB_OPTIONS

    return markdown_table(JOB_OPTIONS)


def _ingest_options() -> str:
    from era5_ingest.config import INGEST_OPTIONS

    return markdown_table(INGEST_OPTIONS)


def variables_table() -> str:
    """The registry's variables: what each daily value is, from what, in what units."""
    from era5_common.variables import SPEED, STATISTIC_RULES, SUM, VARIABLES

    def made_of(name: str) -> str:
        ways = []
        for r in VARIABLES[name].recipes:
            if r.formula == SPEED:
                ways.append(f"speed √({'² + '.join(r.inputs)}²) each hour")
            elif r.formula == SUM:
                ways.append(" + ".join(f"`{q}`" for q in r.inputs))
            else:
                ways.append(f"`{r.inputs[0]}`")
        return ", else ".join(ways)

    lines = [
        "| variable | daily value | units | made from (first held) | rule | default levels | palette |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for v in VARIABLES.values():
        default = " (default)" if v.default else ""
        lines.append(
            f"| `{v.name}`{default} | {v.description} | {v.output_units} | {made_of(v.name)} "
            f"| {STATISTIC_RULES[v.statistic]} | `{v.default_levels}` | `{v.default_cmap}` |"
        )
    return "\n".join(lines) + "\n"


def quantities_table() -> str:
    """The registry's quantities: the hourly fields as each source names them."""
    from era5_common.variables import QUANTITIES

    lines = [
        "| quantity | kind | canonical units | names in files | CDS request | NSF NCAR file, variable | products |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for q in QUANTITIES.values():
        names = ", ".join(f"`{n}`" for n in q.file_names)
        ncar = f"`{q.ncar.product}` `{q.ncar.parameter}`, `{q.ncar.name}`" if q.ncar else "none"
        lines.append(
            f"| `{q.name}` | {q.kind} | {q.units} | {names} | `{q.cds}` | {ncar} | "
            f"{', '.join(q.datasets)} |"
        )
    return "\n".join(lines) + "\n"


def _anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return text.replace(" ", "-")


def table_of_contents(text: str) -> str:
    """A nested list of the ``##`` and ``###`` headings (outside code blocks)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if fenced:
            continue
        match = re.match(r"^(##+) (.+)$", line)
        if match and len(match.group(1)) <= 3 and match.group(2).strip() != "Contents":
            indent = "  " * (len(match.group(1)) - 2)
            title = match.group(2).strip()
            lines.append(f"{indent}- [{title}](#{_anchor(title)})")
    return "\n".join(lines) + "\n"


GENERATORS: dict[str, Callable[[str], str]] = {
    "options:extract_contours": lambda _text: _job_options(),
    "options:ingest_era5": lambda _text: _ingest_options(),
    "toc": table_of_contents,
    "variables": lambda _text: variables_table(),
    "quantities": lambda _text: quantities_table(),
}


def render(text: str) -> str:
    """``text`` with every generated block rendered anew."""

    def block(match: re.Match[str]) -> str:
        generate = GENERATORS.get(match.group("name"))
        if generate is None:
            return match.group(0)
        return match.group(1) + generate(text) + match.group(4)

    return _BLOCK.sub(block, text)


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite (or check) the README's generated parts; the exit code."""
    parser = argparse.ArgumentParser(prog="python -m era5_tools.readme", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 when stale, change nothing")
    parser.add_argument("--path", type=Path, default=None, help="default: the checkout's README")
    args = parser.parse_args(argv)
    path = args.path or repository_root() / "README.md"
    text = path.read_text()
    new = render(text)
    if new == text:
        return 0
    if args.check:
        print(
            f"{path}: generated parts are stale: run python -m era5_tools.readme", file=sys.stderr
        )
        return 1
    path.write_text(new)
    print(f"{path}: generated parts rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
