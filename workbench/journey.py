"""The guided review's steps and their states, derived from real results (never ticked by hand)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench import osconf as osconf_mod
from workbench.checks import SECURITY_AREAS

if TYPE_CHECKING:
    from workbench.state import ReviewState

STEPS = [("overview", "Limits"), ("security", "Security"), ("osconf", "os.conf"), ("simulation", "Simulation"),
         ("inject", "Inject"), ("report", "Report")]
HELP = {
    "overview": ("The import limits (format, size over 5 GiB, a writable first partition), then boot and network "
                 "on ECS's virtio hardware.",
                 "A failed limit means the platform rejects the image; b moves to the boot checks, whose fixes "
                 "are chosen with the others."),
    "security": ("Passwords, SSH keys, risky services and vulnerable packages, found offline in the image.",
                 "Choose the fixes to apply (f, space); what each changes is shown below the list."),
    "osconf": ("The os.conf the platform writes at first boot: VPC or classic, checked as you type.",
               "Save it to test with (ctrl+s); escape leaves the fields so that the number keys work."),
    "simulation": ("The parser run in a sandbox on a copy of the image's files: every file it would change.",
                   "Switch the flavour, load a parser of your own (ctrl+l), or boot a copy for real (ctrl+b)."),
    "inject": ("The plan: the parser, how the image will start it, and the chosen fixes, as per-file changes.",
               "ctrl+w writes a new image (or in place, after typing its name) and verifies every write."),
    "report": ("The whole review as one document: facts, checks, os.conf, simulated changes, the plan.",
               "ctrl+e exports Markdown, HTML (self-contained, printable) or JSON, chosen by the file name."),
}
SYMBOL = {"done": "✔", "attention": "!", "blocked": "✘", "todo": "·"}


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    state: str  # done | attention | blocked | todo
    reason: str


def steps(state: ReviewState) -> list[Step]:
    """The six steps with their states, worked out from what the review state holds."""
    review, osconf_values, changeset = state.review, state.osconf_values, state.changeset
    simulation_error, chosen_fixes, inject_result = state.simulation_error, state.chosen_fixes, state.inject_result
    report_path, checks_running = state.report_path, state.checks_running
    out: list[Step] = []
    # 1 limits
    if review is None:
        out.append(Step("overview", "Limits", "todo", "reading the image"))
    else:
        limits = [r for r in review.results if r.area == "limits"]
        failed = [r for r in limits if r.status == "fail"]
        warned = [r for r in limits if r.status == "warn"]
        errored = [r for r in limits if r.status == "error"]
        if failed:
            out.append(Step("overview", "Limits", "blocked", "the platform will reject the image: "
                            + "; ".join(r.title.lower() for r in failed) + " (fix it at the source; the review goes on)"))
        elif errored:
            out.append(Step("overview", "Limits", "attention", "could not finish: "
                            + ", ".join(r.id for r in errored)))
        elif unready := [r for r in review.results if r.area in ("boot", "network", "guest") and r.status == "fail"
                         and not (set(r.offers) & chosen_fixes)]:
            out.append(Step("overview", "Limits", "attention", "will not boot or answer on ECS as it is: "
                            + ", ".join(r.id for r in unready[:4]) + ("…" if len(unready) > 4 else "")))
        elif warned:
            out.append(Step("overview", "Limits", "attention", "; ".join(r.title.lower() for r in warned)))
        else:
            out.append(Step("overview", "Limits", "done", "the image is within the import limits"))
    guest = review.guest if review is not None else None
    # 2 security
    if guest is None:
        out.append(Step("security", "Security", "todo", "waiting for the appliance to read the guest"))
    elif checks_running:
        out.append(Step("security", "Security", "todo", "the checks are running"))
    else:
        security = [r for r in review.results if r.area in SECURITY_AREAS]
        failing = [r for r in security if r.status == "fail"]
        errored = [r for r in security if r.status == "error"]
        open_ = [r for r in failing if not (set(r.offers) & chosen_fixes)]
        if errored:
            out.append(Step("security", "Security", "attention", f"{len(errored)} check(s) could not finish: "
                            + ", ".join(r.id for r in errored[:4]) + ("…" if len(errored) > 4 else "")))
        elif not failing:
            out.append(Step("security", "Security", "done", "no findings"))
        elif open_:
            out.append(Step("security", "Security", "attention", f"{len(open_)} finding(s) without a chosen fix: "
                            + ", ".join(r.id for r in open_[:4]) + ("…" if len(open_) > 4 else "")))
        else:
            out.append(Step("security", "Security", "done", f"{len(failing)} finding(s), each with a chosen fix"))
    # 3 os.conf
    conf, problems = osconf_mod.from_values(osconf_values)
    errors = [p for p in problems if p.severity == "error"]
    if conf is not None:
        out.append(Step("osconf", "os.conf", "done", f"valid ({conf.network.upper()})"))
    else:
        out.append(Step("osconf", "os.conf", "attention", f"{len(errors)} problem(s): {errors[0].line()}"))
    # 4 simulation
    if simulation_error:
        out.append(Step("simulation", "Simulation", "blocked", simulation_error))
    elif changeset is None:
        out.append(Step("simulation", "Simulation", "todo", "runs once the guest is read"))
    elif changeset.exit_code != 0:
        code = "timed out" if changeset.exit_code is None else f"exit {changeset.exit_code}"
        out.append(Step("simulation", "Simulation", "attention", f"the parser failed ({code}); see its log"))
    else:
        out.append(Step("simulation", "Simulation", "done", f"{len(changeset.changes)} changes, the parser succeeded"))
    # 5 inject
    if inject_result is not None and inject_result.ok:
        out.append(Step("inject", "Inject", "done", f"written and verified: {inject_result.output}"))
    elif conf is None or next(st for st in out if st.key == "simulation").state != "done":
        out.append(Step("inject", "Inject", "blocked", "needs a valid os.conf and a successful simulation first"))
    else:
        out.append(Step("inject", "Inject", "todo", "ctrl+w writes the parser and the chosen fixes into an image"))
    # 6 report
    if report_path:
        out.append(Step("report", "Report", "done", f"exported to {report_path}"))
    else:
        out.append(Step("report", "Report", "todo", "ctrl+e exports the review"))
    return out


def next_action(all_steps: list[Step]) -> str:
    """The next useful thing to do: the first step not done and not blocked at the source."""
    for n, s in enumerate(all_steps, 1):
        if s.state == "done" or (s.key == "overview" and s.state == "blocked"):
            continue
        return f"Next: {n} {s.label}: {s.reason}"
    return "Review complete: hand the report over with the image"
