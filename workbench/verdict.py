"""The review's last word: one function, used by the TUI, the terminal text, the JSON and the documents.

Outcomes, most serious first:
- will be rejected: an import limit failed (the platform refuses the image);
- not ready: a check failed that the import rules forbid (default or empty passwords, baked-in SSH keys and
  logins, remotely exploitable vulnerabilities) or a boot-readiness blocker (it would not start on ECS, or not
  answer with the os.conf's network);
- not fully reviewed: a check was skipped, could not finish, or could not read all it needs (a fail-closed
  warning): it decided nothing about that part, so nothing is claimed;
- ready with warnings: only warnings, or failures the rules do not forbid;
- ready to import.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.checks import CheckResult, Status

WILL_BE_REJECTED = "will be rejected"
NOT_READY = "not ready"
NOT_FULLY_REVIEWED = "not fully reviewed"
READY_WITH_WARNINGS = "ready with warnings"
READY = "ready to import"
OUTCOMES = (WILL_BE_REJECTED, NOT_READY, NOT_FULLY_REVIEWED, READY_WITH_WARNINGS, READY)
# what `workbench check` (and report) exits with for each outcome; 2 is bad input or a check that raised
NOT_FULLY_REVIEWED_EXIT = 3
EXIT_CODES = {WILL_BE_REJECTED: 1, NOT_READY: 1, NOT_FULLY_REVIEWED: NOT_FULLY_REVIEWED_EXIT,
              READY_WITH_WARNINGS: 0, READY: 0}

# area: (the rule it breaks, the severities that break it)
FORBIDDEN = {
    "passwords": ("the import rules forbid default or empty passwords", ("high", "blocker")),
    "ssh": ("the import rules forbid default SSH key pairs and logins", ("high", "blocker")),
    "vulns": ("the import rules forbid remotely exploitable vulnerabilities", ("high", "blocker")),
    "boot": ("it would not start on ECS", ("high", "blocker")),
    # a network finding is a blocker only where the rules say the os.conf's address would be lost (net.conflicts) or
    # the NIC would stay unconfigured (net.interface-names); its other failures are warnings
    "network": ("it would not answer on ECS with the os.conf's network", ("blocker",)),
}


@dataclass(frozen=True)
class Verdict:
    outcome: str
    reasons: list[str] = field(default_factory=list)

    def line(self) -> str:
        return self.outcome + (": " + "; ".join(self.reasons) if self.reasons else "")

    def to_json(self) -> dict:
        return {"outcome": self.outcome, "reasons": list(self.reasons)}

    @property
    def kind(self) -> str:
        """ok, warn or bad: how a document colours it."""
        return {READY: "ok", READY_WITH_WARNINGS: "warn", NOT_FULLY_REVIEWED: "warn"}.get(self.outcome, "bad")


def _ids(results: list[CheckResult]) -> str:
    return ", ".join(r.id for r in results)


def _undecided(r: CheckResult) -> str:
    if r.status == Status.SKIP:
        return "was skipped"
    if r.status == Status.ERROR:
        return "was not finished"
    return "could not read all it needs"


def verdict_of(results: list[CheckResult]) -> Verdict:
    failed = [r for r in results if r.status == Status.FAIL]
    limits = [r for r in failed if r.area == "limits"]
    if limits:
        return Verdict(WILL_BE_REJECTED, [f"{r.title} ({r.id})" for r in limits])
    forbidden = []
    for area, (rule, severities) in FORBIDDEN.items():
        hit = [r for r in failed if r.area == area and str(r.severity) in severities]
        if hit:
            forbidden.append(f"{rule} ({_ids(hit)})")
    if forbidden:
        return Verdict(NOT_READY, forbidden)
    undecided = [r for r in results if r.status in (Status.SKIP, Status.ERROR) or r.incomplete]
    if undecided:
        return Verdict(NOT_FULLY_REVIEWED, [f"{r.id} {_undecided(r)}: {r.detail}" for r in undecided])
    warned = [r for r in results if r.status in (Status.WARN, Status.FAIL)]
    if warned:
        return Verdict(READY_WITH_WARNINGS, [f"{'failed' if r.status == Status.FAIL else 'warning'}: {r.id}"
                                             for r in warned])
    return Verdict(READY)
