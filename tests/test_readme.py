"""The README's generated parts (contents, both jobs' option tables) match the code."""

from __future__ import annotations

from pathlib import Path

from era5_common.options import Option, markdown_table
from era5_contours.run.config import JOB_OPTIONS
from era5_ingest.config import INGEST_OPTIONS
from era5_tools import readme

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_is_current():
    text = (ROOT / "README.md").read_text()
    assert readme.render(text) == text, "run: python -m era5_tools.readme"
    # Every option of each job is in a row of its job's table, with its default.
    for job, options in (("extract_contours", JOB_OPTIONS), ("ingest_era5", INGEST_OPTIONS)):
        table = text.split(f"<!-- options:{job} -->", 1)[1].split("<!-- /options", 1)[0]
        for option in options:
            default = "required" if option.required else option.default or "none"
            rows = [ln for ln in table.splitlines() if ln.startswith(f"| `--{option.name}` |")]
            assert len(rows) == 1 and default in rows[0], (job, option.name, rows)


def test_a_stale_table_is_rewritten_and_the_check_fails(tmp_path):
    stale = tmp_path / "README.md"
    stale.write_text(
        "# x\n\n## Contents\n\n<!-- toc -->\n<!-- /toc -->\n\n## Options\n\n"
        "<!-- options:ingest_era5 -->\n| old |\n<!-- /options:ingest_era5 -->\n\n### More\n"
    )
    assert readme.main(["--check", "--path", str(stale)]) == 1
    assert readme.main(["--path", str(stale)]) == 0
    text = stale.read_text()
    assert "| old |" not in text and "| `--start_month` | required |" in text
    assert "- [Options](#options)\n  - [More](#more)\n" in text
    assert "[Contents]" not in text
    assert readme.main(["--check", "--path", str(stale)]) == 0


def test_a_table_escapes_what_markdown_would_misread():
    table = markdown_table([Option("a", "1", "x | y"), Option("b", help="z", required=True)])
    assert table.splitlines()[2:] == ["| `--a` | `1` | x \\| y |", "| `--b` | required | z |"]
