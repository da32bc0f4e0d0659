"""Command line of the deploy; ``sh/deploy.sh`` wraps the first form.

::

python -m era5_tools.deploy [--env-file .env] [--dry-run]
python -m era5_tools.deploy package [--output dist/era5_contours.zip]
python -m era5_tools.deploy chunks 2024-01-01 2024-03-31 [--chunk-days 7]
python -m era5_tools.deploy cfn-parameters [--env-file .env]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from era5_tools import configure_logging, read_env_file, repository_root

from .artifacts import LIBRARY_ZIP_NAME, artifacts, build_library_zip
from .aws import aws_clients, deploy
from .settings import GLUE_VERSIONS, Settings
from .templates import PlaceholderError, chunk_dates

logger = logging.getLogger(__name__)


def _environment(env_file: str | None) -> dict[str, str]:
    """.env values, overridden by variables already set in the process environment."""
    values = read_env_file(env_file) if env_file else {}
    values.update({k: v for k, v in os.environ.items() if v != ""})
    return values


def cfn_parameters(settings: Settings, root: Path | None = None) -> dict[str, str]:
    """Parameter values of deploy/cloudformation/stack.yaml for this environment."""
    _, wheel_uris = artifacts(root or repository_root(), settings)
    values = {
        "BucketName": settings.bucket,
        "DataPrefix": settings.prefix,
        "InputBucket": settings.input_bucket,
        "InputPrefix": settings.input_prefix,
        "StackNamePrefix": settings.stack_name,
        "DatabaseName": settings.database,
        "AthenaWorkGroup": settings.athena_workgroup,
        "GlueVersion": settings.glue_version,
    }
    for version, uris in wheel_uris.items():
        values[f"{GLUE_VERSIONS[version].capitalize()}AdditionalPythonModules"] = ",".join(uris)
    return values


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = ("deploy", "package", "chunks", "cfn-parameters")
    if not argv or argv[0] not in (*commands, "-h", "--help"):
        argv.insert(0, "deploy")
    parser = argparse.ArgumentParser(
        prog="python -m era5_tools.deploy", description="Deploy the contour job to AWS."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("deploy", help="sync S3 artifacts, IAM, Glue jobs, state machine")
    run.add_argument("--env-file", default=".env", help="default: .env (if present)")
    run.add_argument("--root", type=Path, help="repository root (default: the checkout here)")
    run.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    run.add_argument(
        "--artifacts-only",
        action="store_true",
        help="only upload script, library zip and wheels (for the CloudFormation stack)",
    )
    pkg = sub.add_parser("package", help="write the library zip for --extra-py-files")
    pkg.add_argument("--output", type=Path, help=f"default: dist/{LIBRARY_ZIP_NAME} in the root")
    pkg.add_argument("--root", type=Path)
    chunks = sub.add_parser("chunks", help="print the chunks the state machine will run")
    chunks.add_argument("start_date", type=date.fromisoformat)
    chunks.add_argument("end_date", type=date.fromisoformat)
    chunks.add_argument("--chunk-days", type=int, default=7)
    cfn = sub.add_parser("cfn-parameters", help="print ParameterKey=Value for stack.yaml")
    cfn.add_argument("--env-file", default=".env")
    cfn.add_argument("--root", type=Path)
    parser.add_argument("--log_level", default=os.environ.get("LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    configure_logging(args.log_level)

    try:
        if args.command in ("deploy", "package", "cfn-parameters"):
            args.root = args.root or repository_root()
        if args.command == "package":
            data = build_library_zip(args.root / "src" / "lib" / "era5_contours")
            args.output = args.output or args.root / "dist" / LIBRARY_ZIP_NAME
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_bytes(data)
            print(
                f"wrote {args.output} ({len(data):,} bytes, sha256 "
                f"{hashlib.sha256(data).hexdigest()})"
            )
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
        settings = Settings.from_env(_environment(args.env_file))
        if args.command == "cfn-parameters":
            for key, value in cfn_parameters(settings, args.root).items():
                print(f"{key}={value}")
            return 0
        env = _environment(args.env_file)
        clients = aws_clients(settings, env)
        where = settings.endpoint_url or f"AWS {settings.region}"
        print(
            f"{'planning' if args.dry_run else 'deploying'} {settings.stack_name} to "
            f"s3://{settings.bucket}/{settings.prefix} ({where}); "
            f"state machine runs Glue {settings.glue_version}",
            flush=True,
        )
        changes = deploy(
            settings,
            clients,
            args.root,
            args.dry_run,
            report=lambda c: print(c.line(args.dry_run), flush=True),
            artifacts_only=args.artifacts_only,
        )
    except (ValueError, FileNotFoundError, PlaceholderError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    counts = {a: sum(c.action == a for c in changes) for a in ("created", "updated", "unchanged")}
    summary = ", ".join(f"{n} {a}" for a, n in counts.items())
    print(f"{'plan' if args.dry_run else 'done'}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
