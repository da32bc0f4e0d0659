"""The ingest run: every month planned, fetched (or skipped), written and accounted for.

Months are independent: each has its folder and manifest, runs in a worker thread (at
most ``max_parallel_requests`` at once, since the CDS queues requests per user), and a
month that fails (a failed CDS request, retries spent, a permanent error) is reported and
leaves the others going. Within a month each request (:class:`~.cds_requests.Part`) is
fetched, unpacked, checked and written on its own, and the manifest is rewritten after
each: a run that dies resumes at the next request, and follows a request that was still
queued instead of submitting it again.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from era5_common import storage
from era5_common.errors import RunError

from . import __version__
from .cds import CdsError, CdsService, RequestTooLarge, TransientError, human_bytes
from .cds_requests import CDS_VARIABLES, MonthPlan, Part, halve, hour_ranges, plan_month, split_part
from .config import IngestConfig
from .files import DownloadContentError, describe_netcdf, sha256_file, stem_for, unpack_download
from .manifest import (
    COMPLETE,
    FAILED,
    IN_PROGRESS,
    INCOMPLETE,
    MANIFEST_NAME,
    FileEntry,
    Manifest,
    PartEntry,
    iso_hour,
    utc_now,
)
from .store import (
    check_writable,
    list_folder,
    month_folder,
    put_file,
    read_manifest,
    remove,
    stored_digest,
    write_manifest,
)

logger = logging.getLogger(__name__)

SKIPPED = "skipped"
SUBMITTED = "submitted"


@dataclass
class MonthOutcome:
    """What became of one month."""

    month: str
    status: str
    files: int = 0
    bytes: int = 0
    requests: int = 0
    message: str = ""

    @property
    def ok(self) -> bool:
        """Complete, or skipped because complete."""
        return self.status in (COMPLETE, SKIPPED)


@dataclass
class IngestReport:
    """The run's months and its exit code."""

    dataset: str
    output_path: str
    outcomes: list[MonthOutcome] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when every month is complete, 1 when any failed or is incomplete."""
        return 0 if all(o.ok for o in self.outcomes) else 1

    def text(self) -> str:
        """The run summary, one line per month."""
        lines = [f"ingest {self.dataset} -> {storage.join(self.output_path, self.dataset)}"]
        for o in self.outcomes:
            size = f"{_plural(o.files, 'file')}, {human_bytes(o.bytes)}" if o.files else ""
            asked = _plural(o.requests, "request") + " submitted"
            detail = "; ".join(x for x in (size, asked, o.message) if x)
            lines.append(f"  {o.month}  {o.status.upper() if not o.ok else o.status:<10} {detail}")
        bad = [o for o in self.outcomes if not o.ok]
        lines.append(
            f"{len(self.outcomes) - len(bad)} of {len(self.outcomes)} months complete"
            + (f"; failed or incomplete: {', '.join(o.month for o in bad)}" if bad else "")
        )
        return "\n".join(lines)


def software_versions() -> dict[str, str]:
    """Versions of what wrote a manifest."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"era5_ingest": __version__}
    for dist in ("ecmwf-datastores-client", "multiurl", "netCDF4"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "unknown"
    return out


def verify_files(folder: str, entries: Sequence[FileEntry]) -> dict[str, str]:
    """Stored files whose size or SHA-256 differ from their manifest entry (name -> why)."""
    problems = {}
    for entry in entries:
        found = stored_digest(storage.join(folder, entry.name))
        if found is None:
            problems[entry.name] = "missing"
        elif found[0] != entry.size:
            problems[entry.name] = f"size {found[0]} instead of {entry.size}"
        elif found[1] != entry.sha256:
            problems[entry.name] = "sha256 differs from the manifest"
    return problems


class _Month:
    """The work on one month (runs in one worker thread)."""

    def __init__(
        self, plan: MonthPlan, config: IngestConfig, service: CdsService, software: dict[str, str]
    ) -> None:
        self.plan = plan
        self.config = config
        self.service = service
        self.folder = month_folder(config.output_path, plan.dataset, plan.month)
        self.name = f"{plan.dataset} {plan.month}"
        self.software = software
        self.requests = 0

    def say(self, message: str, part: str | None = None) -> None:
        logger.info("%s%s: %s", self.name, f" [{part}]" if part else "", message)

    def run(self) -> MonthOutcome:
        try:
            return self._run()
        except Exception as exc:  # logged with its traceback; one month never stops the others
            logger.exception("%s: failed", self.name)
            return MonthOutcome(
                str(self.plan.month),
                FAILED,
                requests=self.requests,
                message=f"{type(exc).__name__}: {exc}",
            )

    def _run(self) -> MonthOutcome:
        spec = self.plan.spec()
        old, why = read_manifest(self.folder)
        same = old is not None and old.spec == spec
        # Each stored file is read and hashed once per run, whatever is decided from it.
        problems = verify_files(self.folder, old.files) if same and old is not None else {}
        skipped = self._look_back(old, same, problems, why)
        if skipped is not None:
            return skipped
        manifest = Manifest(spec=spec, software=self.software)
        queue = list(self.plan.parts)
        resumed = old if same else None
        if resumed is not None:
            manifest.created_at = resumed.created_at
            queue = resume_queue(self.plan.parts, resumed.parts)
        failures = []
        while queue:
            failure = self._run_part(queue, manifest, resumed, problems)
            if failure is not None:
                failures.append(failure)
        return self._finish(manifest, failures)

    def _look_back(
        self, old: Manifest | None, same: bool, problems: dict[str, str], why: str | None
    ) -> MonthOutcome | None:
        """What an earlier manifest says: the month skipped when complete and intact."""
        if old is not None and same and old.status == COMPLETE:
            if not problems:
                self.say(f"complete, {len(old.files)} files verified (size, sha256): skipped")
                return MonthOutcome(
                    str(self.plan.month),
                    SKIPPED,
                    files=len(old.files),
                    bytes=sum(f.size for f in old.files),
                    message="complete already",
                )
            self.say(
                "manifest complete but "
                + ", ".join(f"{n}: {p}" for n, p in sorted(problems.items()))
                + ": fetching those again"
            )
        elif old is not None and not same:
            self.say("an earlier manifest describes another request: fetching the month again")
        elif old is not None:
            self.say(f"resuming (manifest says {old.status})")
        elif why and why != "no manifest":
            logger.warning("%s: %s; fetching the month again", self.name, why)
        return None

    def _run_part(
        self,
        queue: list[Part],
        manifest: Manifest,
        resumed: Manifest | None,
        problems: dict[str, str],
    ) -> str | None:
        """The next part of the queue: kept, fetched, split or failed; its failure, if any."""
        part = queue.pop(0)
        request = part.request(self.plan.dataset, self.plan.area)
        earlier = resumed.part(part.label) if resumed is not None else None
        if earlier is not None and earlier.request != request:
            earlier = None
        if resumed is not None and earlier is not None and earlier.status == COMPLETE:
            entries = resumed.files_of(part.label)
            bad = [e.name for e in entries if e.name in problems]
            if entries and not bad:
                manifest.parts.append(earlier)
                manifest.files.extend(entries)
                self.say(f"kept {len(entries)} verified files", part.label)
                return None
            for name in bad:
                remove(storage.join(self.folder, name))
        follow = earlier.request_id if earlier is not None and earlier.status == SUBMITTED else None
        try:
            entry, files = self._fetch(part, request, manifest, follow)
        except RequestTooLarge as exc:
            smaller = (
                split_part(part, exc.limit, self.plan.variables)
                if exc.limit and exc.limit < part.items
                else halve(part, self.plan.variables)
            )
            self.say(
                f"refused as too large ({part.items} fields): split into "
                + ", ".join(f"{p.label} ({p.items})" for p in smaller),
                part.label,
            )
            manifest.parts = [p for p in manifest.parts if p.label != part.label]
            queue[:0] = smaller
            return None
        except (CdsError, DownloadContentError) as exc:
            return self._part_failed(part, request, manifest, exc)
        _replace_part(manifest, entry)
        manifest.files.extend(files)
        self._write(manifest)
        return None

    def _part_failed(
        self, part: Part, request: dict[str, Any], manifest: Manifest, exc: Exception
    ) -> str:
        message = str(exc)
        self.say(f"failed: {message}", part.label)
        submitted = manifest.part(part.label)
        if (
            isinstance(exc, TransientError)
            and submitted is not None
            and submitted.status == SUBMITTED
            and submitted.request_id
        ):
            # The CDS still has the request (queued too long, unreachable, its download
            # broken): the part stays "submitted", a rerun follows it.
            submitted.error = message
        else:
            _replace_part(
                manifest,
                PartEntry(part.label, request, FAILED, error=message, finished_at=utc_now()),
            )
        self._write(manifest)
        return f"{part.label}: {message}"

    def _fetch(
        self, part: Part, request: dict[str, Any], manifest: Manifest, follow: str | None
    ) -> tuple[PartEntry, list[FileEntry]]:
        entry = PartEntry(part.label, request, SUBMITTED, request_id=follow, submitted_at=utc_now())

        def submitted(request_id: str) -> None:
            # Written at once: a run that dies while the request waits follows it next time.
            self.requests += 1
            entry.request_id = request_id
            _replace_part(manifest, entry)
            self._write(manifest)

        if follow:
            _replace_part(manifest, entry)
            self._write(manifest)
        self.say(f"{_plural(part.items, 'field')}: " + _describe(part), part.label)
        workdir = Path(tempfile.mkdtemp(prefix="era5-ingest-"))
        try:
            target = workdir / "download"
            result, _ = self.service.fetch(
                self.plan.collection,
                request,
                target,
                lambda message: self.say(message, part.label),
                request_id=follow,
                on_submitted=submitted,
            )
            entry.request_id = result.request_id
            files, found = self._store(part, result.request_id, target, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        entry.status = COMPLETE
        entry.files = [f.name for f in files]
        entry.bytes = sum(f.size for f in files)
        entry.finished_at = utc_now()
        entry.coverage = part_coverage(part, found)
        return entry, files

    def _store(
        self, part: Part, request_id: str, download: Path, workdir: Path
    ) -> tuple[list[FileEntry], dict[str, set[datetime]]]:
        members = unpack_download(download, workdir)
        files, names = [], set()
        found: dict[str, set[datetime]] = {}
        for member in members:
            content = describe_netcdf(member.path)
            name = f"{self.plan.dataset}_{part.label}_{stem_for(content.variables)}.nc"
            if name in names:
                raise DownloadContentError(
                    f"two files of request {request_id} hold {', '.join(content.variables)}"
                )
            names.add(name)
            times = sorted(content.times)
            for v in content.variables:
                found.setdefault(v, set()).update(times)
            entry = FileEntry(
                name=name,
                size=member.path.stat().st_size,
                sha256=sha256_file(member.path),
                variables=list(content.variables),
                valid_time_first=iso_hour(times[0]) if times else "",
                valid_time_last=iso_hour(times[-1]) if times else "",
                valid_time_count=len(times),
                part=part.label,
                request_id=request_id,
                source_name=member.source_name,
            )
            put_file(member.path, storage.join(self.folder, name))
            self.say(
                f"wrote {name} ({human_bytes(entry.size)}, {', '.join(entry.variables)}, "
                f"{entry.valid_time_first}..{entry.valid_time_last})",
                part.label,
            )
            files.append(entry)
        return files, found

    def _finish(self, manifest: Manifest, failures: list[str]) -> MonthOutcome:
        manifest.coverage, missing = month_coverage(self.plan, manifest.parts)
        if failures:
            manifest.status, manifest.error = FAILED, "; ".join(failures)
        elif missing:
            manifest.status, manifest.error = INCOMPLETE, "; ".join(missing)
        else:
            manifest.status, manifest.error = COMPLETE, None
        self._remove_stale(manifest)
        self._write(manifest)
        outcome = MonthOutcome(
            str(self.plan.month),
            manifest.status,
            files=len(manifest.files),
            bytes=sum(f.size for f in manifest.files),
            requests=self.requests,
            message=manifest.error or "",
        )
        if manifest.status == COMPLETE:
            self.say(f"complete: {len(manifest.files)} files, {human_bytes(outcome.bytes)}")
        else:
            logger.error("%s: %s: %s", self.name, manifest.status, manifest.error)
        return outcome

    def _remove_stale(self, manifest: Manifest) -> None:
        """Remove what the manifest does not list: the contour job reads every .nc file.

        That is files of an earlier split or another area, and temporary files of
        interrupted writes.
        """
        listed = {f.name for f in manifest.files} | {MANIFEST_NAME}
        for name in list_folder(self.folder):
            stale = name.endswith(".nc") and name not in listed
            leftover = name.startswith(".") and name.endswith(".tmp")
            if stale or leftover:
                remove(storage.join(self.folder, name))
                self.say(f"removed {'stale' if stale else 'temporary'} file {name}")

    def _write(self, manifest: Manifest) -> None:
        manifest.updated_at = utc_now()
        if manifest.status not in (COMPLETE, INCOMPLETE, FAILED):
            manifest.status = IN_PROGRESS
        write_manifest(self.folder, manifest)


def _part_fields(
    request: dict[str, Any],
) -> tuple[tuple[str, ...], tuple[date, ...], tuple[str, ...]]:
    """Variables, dates and times of a part, from its CDS request (a manifest's part)."""
    names = {cds: ours for ours, cds in CDS_VARIABLES.items()}  # quantities by CDS name
    year, month = int(request["year"][0]), int(request["month"][0])
    variables = tuple(names[v] for v in request["variable"])
    dates = tuple(date(year, month, int(d)) for d in request["day"])
    return variables, dates, tuple(request["time"])


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _replace_part(manifest: Manifest, entry: PartEntry) -> None:
    manifest.parts = [p for p in manifest.parts if p.label != entry.label] + [entry]


def _describe(part: Part) -> str:
    days = f"{part.dates[0].isoformat()}..{part.dates[-1].isoformat()}"
    hours = "all hours" if len(part.times) == 24 else f"{part.times[0]}..{part.times[-1]}"
    return f"{', '.join(part.variables)}; {days}; {hours}"


def part_coverage(part: Part, found: dict[str, set[datetime]]) -> dict[str, Any]:
    """Per variable of a part: hours asked for, found in its files, missing (as ranges)."""
    coverage = {}
    for v, stamps in part.hours().items():
        have = found.get(v, set())
        lacking = [t for t in stamps if t not in have]
        coverage[v] = {
            "expected": len(stamps),
            "found": len(stamps) - len(lacking),
            "missing": [[iso_hour(a), iso_hour(b)] for a, b in hour_ranges(lacking)],
        }
    return coverage


def _entry_part(entry: PartEntry) -> Part:
    return Part(entry.label, *_part_fields(entry.request))


def resume_queue(planned: Sequence[Part], earlier: Sequence[PartEntry]) -> list[Part]:
    """The parts to go through when a manifest of the same month exists.

    The earlier parts come first, as they were (they may have been split further after a
    refusal, and their files and request ids are reused); then every planned part that
    asks for a field none of them asks for (one never reached before the run stopped).
    """
    queue = [_entry_part(e) for e in earlier]
    asked = {(v, t) for part in queue for v, ts in part.hours().items() for t in ts}
    for part in planned:
        fields = {(v, t) for v, ts in part.hours().items() for t in ts}
        if not fields <= asked:
            queue.append(part)
            asked |= fields
    return queue


def _found(entry: PartEntry) -> dict[str, set[datetime]]:
    """Valid times a fetched part's files hold, per variable (asked for, minus missing)."""
    if entry.status != COMPLETE:
        return {}
    found: dict[str, set[datetime]] = {}
    for v, stamps in _entry_part(entry).hours().items():
        info = entry.coverage.get(v)
        if info is None:  # the files lack the variable altogether
            found[v] = set()
            continue
        gaps = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in info["missing"]]
        found[v] = {t for t in stamps if not any(a <= t <= b for a, b in gaps)}
    return found


def month_coverage(plan: MonthPlan, parts: Sequence[PartEntry]) -> tuple[dict[str, Any], list[str]]:
    """The month's valid times per variable, and a sentence per variable lacking hours.

    Expected is what the plan asks for, found what the fetched parts' files hold, missing
    the difference as ranges of consecutive hours.
    """
    found: dict[str, set[datetime]] = {}
    for entry in parts:
        for v, stamps in _found(entry).items():
            found.setdefault(v, set()).update(stamps)
    coverage: dict[str, Any] = {}
    sentences: list[str] = []
    for v, expected in plan.expected_hours().items():
        lacking = [t for t in expected if t not in found.get(v, set())]
        runs = hour_ranges(lacking)
        coverage[v] = {
            "expected": len(expected),
            "found": len(expected) - len(lacking),
            "missing": [[iso_hour(a), iso_hour(b)] for a, b in runs],
        }
        if lacking:
            shown = ", ".join(
                iso_hour(a) if a == b else f"{iso_hour(a)}..{iso_hour(b)}" for a, b in runs[:3]
            )
            more = f" and {len(runs) - 3} more ranges" if len(runs) > 3 else ""
            sentences.append(
                f"{v}: {len(lacking)} of {len(expected)} hours missing ({shown}{more})"
            )
    return coverage, sentences


def run_ingest(
    config: IngestConfig,
    service: CdsService,
    on_month: Callable[[MonthOutcome], None] | None = None,
) -> IngestReport:
    """Fetch every month of ``config``; the report (never raises for one month's problem).

    Raises
    ------
    RunError
        When the output cannot be written (before anything is requested).
    """
    storage.use_endpoint(config.aws_endpoint_url or None)
    try:
        check_writable(storage.join(config.output_path, config.dataset))
    except Exception as exc:
        raise RunError(f"the output {config.output_path} is not writable: {exc}") from exc
    last = config.months[-1]
    plans = [
        plan_month(
            config.dataset,
            month,
            config.variables,
            config.area,
            next_day=config.next_day and month == last,
            limit=config.max_items_per_request,
        )
        for month in config.months
    ]
    software = software_versions()
    report = IngestReport(config.dataset, config.output_path)
    logger.info(
        "ingest %s %s..%s (%d months, %s) area %s to %s, %d at a time",
        config.dataset,
        config.months[0],
        last,
        len(plans),
        ",".join(config.variables),
        config.area.as_list(),
        config.output_path,
        config.max_parallel_requests,
    )
    with ThreadPoolExecutor(
        max_workers=config.max_parallel_requests, thread_name_prefix="ingest"
    ) as pool:
        futures = [pool.submit(_Month(p, config, service, software).run) for p in plans]
        for future in futures:
            outcome = future.result()
            report.outcomes.append(outcome)
            if on_month is not None:
                on_month(outcome)
    return report
