"""Command line of the deploy; ``sh/deploy.sh`` wraps the first form.

::

python -m era5_tools.deploy [--env-file .env] [--dry-run]
python -m era5_tools.deploy package [--output-dir dist]
python -m era5_tools.deploy chunks 2024-01-01 2024-03-31 [--chunk-days 7]

Exit status: 0 deployed, up to date or planned; 1 AWS refused or the stack failed (one
line on stderr says why); 2 bad settings or files, nothing sent.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from era5_common.env import read_env_file
from era5_common.logs import configure_logging
from era5_tools import repository_root

from .artifacts import LIBRARY_ZIPS, build_library_zip
from .aws import Outcome, aws_clients, deploy
from .chunks import chunk_dates
from .settings import Settings
from .stack import DeployError, shorten


def _environment(env_file: str | None) -> dict[str, str]:
    """.env values, overridden by variables already set in the process environment."""
    values = read_env_file(env_file) if env_file else {}
    values.update({k: v for k, v in os.environ.items() if v != ""})
    return values


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 300:
        raise argparse.ArgumentTypeError(f"must be in 0..300, got {text}")
    return value


def _fail(exc: BaseException, code: int, prefix: str = "") -> int:
    """Print the error on one line of stderr; the exit code."""
    text = " ".join(f"{prefix}{exc}".split())
    print(f"error: {text}", file=sys.stderr)
    return code


def summary(outcome: Outcome, dry_run: bool) -> list[str]:
    """The lines that close a deploy: parameters, resource changes, result."""
    lines = []
    if outcome.result != "no changes" and outcome.parameters:
        lines.append("parameters:")
        lines += [
            f"  {k}: {shorten(old) or '(none)'} -> {shorten(new) or '(empty)'}"
            for k, old, new in outcome.parameters
        ]
    if outcome.changes:
        lines.append(f"change set {outcome.change_set}:")
        lines += [f"  {row.line()}" for row in outcome.changes]
    counts = f"{len(outcome.changes)} resource change(s)"
    if outcome.result == "no changes":
        lines.append(f"no changes: stack {outcome.stack_name} is up to date")
    elif dry_run:
        lines.append(f"dry run: {counts}; change set {outcome.change_set} not executed and deleted")
    else:
        lines += [f"  {k} = {v}" for k, v in sorted(outcome.outputs.items())]
        lines.append(f"done: stack {outcome.stack_name} {outcome.result}, {counts}")
    return lines


def _parser() -> argparse.ArgumentParser:
    """The command line's three commands and their options."""
    parser = argparse.ArgumentParser(
        prog="python -m era5_tools.deploy",
        description="Deploy the pipeline (jobs, roles, state machine) to AWS.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "deploy", help="upload the artifacts, deploy the stack through a change set"
    )
    run.add_argument("--env-file", default=".env", help="default: .env (if present)")
    run.add_argument("--root", type=Path, help="repository root (default: the checkout here)")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="show the change set (resource, action, replacement) and delete it; upload nothing",
    )
    run.add_argument(
        "--poll-seconds",
        type=_seconds,
        default=5.0,
        help="between status checks of the change set and the stack (default 5)",
    )
    pkg = sub.add_parser("package", help="write the library zips for --extra-py-files")
    pkg.add_argument("--output-dir", type=Path, help="default: dist/ in the root")
    pkg.add_argument("--root", type=Path)
    chunks = sub.add_parser("chunks", help="print the chunks the state machine will run")
    chunks.add_argument("start_date", type=date.fromisoformat)
    chunks.add_argument("end_date", type=date.fromisoformat)
    chunks.add_argument("--chunk-days", type=int, default=7)
    parser.add_argument("--log_level", default=os.environ.get("LOG_LEVEL", "INFO"))
    return parser


def _package(root: Path, folder: Path) -> None:
    """Write every package zip the jobs take (``era5_common.zip``, ...) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for package in LIBRARY_ZIPS.values():
        data = build_library_zip(root / package)
        target = folder / f"{Path(package).name}.zip"
        target.write_bytes(data)
        print(f"wrote {target} ({len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()})")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = ("deploy", "package", "chunks")
    if not argv or argv[0] not in (*commands, "-h", "--help"):
        argv.insert(0, "deploy")
    args = _parser().parse_args(argv)
    configure_logging(args.log_level, stream=sys.stderr)

    try:
        if args.command in ("deploy", "package"):
            args.root = args.root or repository_root()
        if args.command == "package":
            _package(args.root, args.output_dir or args.root / "dist")
            return 0
        if args.command == "chunks":
            rows = chunk_dates(args.start_date, args.end_date, args.chunk_days)
            print(
                json.dumps(
                    [{"start_date": a.isoformat(), "end_date": b.isoformat()} for a, b in rows],
                    indent=2,
                )
            )
            return 0
        env = _environment(args.env_file)
        settings = Settings.from_env(env)
        clients = aws_clients(settings, env)
    except (ValueError, FileNotFoundError) as exc:
        return _fail(exc, 2)
    where = settings.endpoint_url or f"AWS {settings.region}"
    print(
        f"{'planning' if args.dry_run else 'deploying'} stack {settings.stack_name} "
        f"({where}); artifacts in s3://{settings.bucket}/{settings.artifacts_prefix}/; "
        f"state machine runs Glue {settings.glue_version}",
        flush=True,
    )
    try:
        outcome = deploy(
            settings,
            clients,
            args.root,
            args.dry_run,
            report=lambda line: print(line, flush=True),
            poll_s=args.poll_seconds,
        )
    except (ValueError, FileNotFoundError) as exc:
        return _fail(exc, 2)
    except DeployError as exc:
        return _fail(exc, 1)
    except (BotoCoreError, ClientError) as exc:  # credentials, endpoint, access, quotas
        return _fail(exc, 1, f"{type(exc).__name__}: ")
    for line in summary(outcome, args.dry_run):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
