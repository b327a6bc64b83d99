"""The check registry: every check is a pure function of ImageFacts and the pulled GuestTree.

A check module registers its functions with @check; ids are unique (a second
registration of an id fails at import). Status and severity are enums checked
when a result is made. A check that raises yields status `error`, never a pass.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable, Iterable, Union

from workbench.image.preflight import ImageFacts
from workbench.image.tree import strict_reads
from workbench.text import printable


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"
    ERROR = "error"  # the check raised: nothing was decided


class Severity(StrEnum):
    BLOCKER = "blocker"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


AREAS = {"limits": "Import limits", "passwords": "Passwords", "ssh": "SSH", "services": "Services",
         "vulns": "Vulnerabilities", "boot": "Boot on ECS", "network": "Network on ECS",
         "guest": "Guest"}  # the order of DESIGN.md's check table
READINESS_AREAS = ("limits", "boot", "network", "guest")  # will it be taken, boot and answer (the overview)
SECURITY_AREAS = ("passwords", "ssh", "services", "vulns")  # what the import rules forbid (the security screen)


@dataclass
class CheckResult:
    id: str
    status: Status
    severity: Severity
    title: str
    detail: str
    evidence: list[str] = field(default_factory=list)
    fix: str | None = None
    area: str = "limits"
    offers: dict[str, list[str]] = field(default_factory=dict)  # fix id -> what it would act on
    incomplete: bool = False
    """Something the check needs was not read (or a reader stopped early): it decided nothing about that part,
    so the review is not complete (the verdict says "not fully reviewed")."""

    def __post_init__(self) -> None:
        self.status = Status(self.status)  # ValueError for anything that is not a status
        self.severity = Severity(self.severity)

    def to_json(self) -> dict:
        return {"id": self.id, "status": str(self.status), "severity": str(self.severity), "title": self.title,
                "detail": self.detail, "evidence": list(self.evidence), "fix": self.fix}


@dataclass
class Context:
    """What checks may look at. guest is None for --quick or when the appliance failed."""
    facts: ImageFacts
    guest: object | None = None  # workbench.image.session.GuestReport
    quick: bool = False
    guest_error: str | None = None
    advisories: tuple[str, ...] = ()
    """Directories of OSV advisories to compare packages with, besides the bundled ones (--advisories)."""
    progress: Callable[[object], None] | None = None
    """Told how a long check is getting on (the password scan's ScanProgress)."""
    cancel: threading.Event | None = None
    """Set to stop a long check early (it then says it did not finish)."""
    flavor: str | None = None
    """The parser flavour the operator chose (None: the one the image's network stack needs)."""
    script: str | None = None
    """The operator's own parser script, instead of the workbench's: checks judge with the parser that will run."""

    @property
    def tree(self):
        return self.guest.tree if self.guest is not None else None

    @property
    def os(self):
        return self.guest.os if self.guest is not None else None


Reads = Union[tuple[str, ...], Callable[[Context], Iterable[str]]]


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    area: str
    severity: Severity
    needs_guest: bool
    func: Callable[["Check", Context], CheckResult]
    reads: Reads = ()
    """Guest paths (files or trees) the check decides from: if any of them was not read, it cannot pass."""

    def read_paths(self, ctx: Context) -> list[str]:
        return list(self.reads(ctx) if callable(self.reads) else self.reads)

    def result(self, status: str, detail: str, evidence=(), fix: str | None = None,
               severity: str | None = None, offers: dict[str, list[str]] | None = None,
               incomplete: bool = False) -> CheckResult:
        """incomplete: part of what the check needs was not read, so it could not decide about that part."""
        return CheckResult(self.id, status, severity or self.severity, self.title, detail,
                           list(evidence), fix, self.area, dict(offers or {}), incomplete)


REGISTRY: dict[str, Check] = {}


class DuplicateCheck(RuntimeError):
    pass


def check(id: str, title: str, area: str, severity: str, needs_guest: bool = False, reads: Reads = ()):
    """Register a check function `(check, ctx) -> CheckResult` under id (unique). reads: the guest paths it
    decides from (a tuple, or a function of the context), for fail_closed()."""
    if area not in AREAS:
        raise ValueError(f"check {id}: unknown area {area!r}")

    def deco(func):
        if id in REGISTRY:
            raise DuplicateCheck(f"check id {id} is registered twice")
        REGISTRY[id] = Check(id, title, area, Severity(severity), needs_guest, func, reads)
        return func
    return deco


def _load() -> None:
    # registration order is report order within an area
    from workbench.checks import boot, guest, limits, network, passwords, services, ssh, vulns  # noqa: F401


def all_checks() -> list[Check]:
    """In report order: by area as AREAS lists them, then as registered (whatever imported first)."""
    _load()
    order = list(AREAS)
    return sorted(REGISTRY.values(), key=lambda c: order.index(c.area))


def run_check(c: Check, ctx: Context) -> CheckResult:
    if c.needs_guest and ctx.guest is None:
        if ctx.quick:
            why = "Skipped: --quick reads only the host-side preflight, not the guest's files."
        elif ctx.guest_error:
            why = f"Skipped: the guest could not be read ({ctx.guest_error})."
        else:
            why = "Skipped: waiting for the appliance."
        return c.result(Status.SKIP, why, severity=Severity.INFO)
    if c.needs_guest and ctx.guest is not None and ctx.os is None:
        return c.result(Status.SKIP, "Skipped: no Linux root file system was found in the image.",
                        severity=Severity.INFO)
    try:
        with strict_reads():  # a path nothing pulled raises (NotPulled: a bug, never "absent")
            return fail_closed(c, ctx, c.func(c, ctx))
    except Exception as e:  # a bug in one check must not hide the others, and is never a pass
        first = (str(e).strip().splitlines() or [""])[0][:300]
        return c.result(Status.ERROR, f"The check could not finish ({type(e).__name__}: {first}); nothing was "
                                      "decided, so the image is not fully reviewed. Please report this.")


def fail_closed(c: Check, ctx: Context, r: CheckResult) -> CheckResult:
    """A check that passed (or found nothing to look at) while a file it needs was not read has not decided:
    it becomes a warning that names what was not read. A failure keeps its status and gains the same lines."""
    if ctx.tree is None or not c.reads:
        return r
    missing = ctx.tree.unread_under(c.read_paths(ctx))
    if not missing:
        return r
    lines = [f"not read: {printable(path, 200)} ({printable(why, 200)})" for path, why in missing[:10]]
    if len(missing) > 10:
        lines.append(f"not read: … and {len(missing) - 10} more")
    if r.status in (Status.PASS, Status.SKIP):
        return c.result(Status.WARN, f"Not fully reviewed: {len(missing)} file(s) or tree(s) this check needs could "
                                     "not be read, so what they hold is unknown; nothing was found in the rest.",
                        lines + r.evidence, "Look at what was not read by hand (or remove it), then review again.",
                        incomplete=True)
    r.evidence = r.evidence + lines
    r.incomplete = True
    return r


def run_checks(ctx: Context, area: str | None = None) -> list[CheckResult]:
    return [run_check(c, ctx) for c in all_checks() if area is None or c.area == area]
