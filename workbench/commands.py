"""The headless subcommands: argument adapters over the review session (state.py), and their printing.

Each takes the parsed arguments, builds the session's typed options, calls its steps and returns the exit
code: 0 ready (or fine), 1 not ready / a failure / an invalid file, 2 bad input or a check that could not
finish, 3 not fully reviewed (verdict.EXIT_CODES): one sentence on stderr, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys

from workbench.errors import UsageError, WorkbenchError
from workbench.state import InjectTarget, ReviewOptions, ReviewSession


def stderr_notify(message: str) -> None:
    print(f"workbench: {message}", file=sys.stderr)


def advisory_dirs(dirs: list[str]) -> tuple[str, ...]:
    for d in dirs:
        if not os.path.isdir(d):
            raise UsageError(f"--advisories {d}: no such directory")
    return tuple(dirs)


def read_input(path: str, what: str, limit: int = 1 << 20) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise UsageError(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {path} is a directory") from None
    except OSError as e:
        raise UsageError(f"{what} {path} cannot be read ({e.strerror})") from None
    if len(data) > limit:
        raise UsageError(f"{what} {path} is larger than {limit >> 10} KiB")
    return data


def options_of(args) -> ReviewOptions:
    """The typed options from whatever the subcommand's arguments hold."""
    script = getattr(args, "script", None)
    return ReviewOptions(
        allow_backing=bool(getattr(args, "allow_backing", False)),
        advisories=advisory_dirs(getattr(args, "advisories", []) or []),
        quick=bool(getattr(args, "quick", False)), flavor=getattr(args, "flavor", None),
        script=read_input(script, "script").decode("utf-8", "replace") if script else None,
        boot=getattr(args, "boot", "auto"), disk=getattr(args, "disk", "virtio"),
        firmware=getattr(args, "firmware", "auto"), timeout=getattr(args, "timeout", 600),
        later=() if getattr(args, "first_boot_only", False) else ReviewOptions.later)


def session_of(args, image: str | None = None) -> ReviewSession:
    """A session on the command's image, with its os.conf (--os-conf) and fixes (--fix) taken."""
    session = ReviewSession(image or args.image, options_of(args))
    if getattr(args, "os_conf", None):
        session.set_osconf(read_input(args.os_conf, "os.conf").decode("utf-8", "replace"))
    session.choose_fixes(getattr(args, "fix", []) or [])
    return session


def errored_sentence(review) -> str | None:
    """One sentence naming the checks that raised, or None."""
    bad = review.errored
    if not bad:
        return None
    names = ", ".join(r.id for r in bad)
    return (f"workbench: {review.facts.name}: {'check' if len(bad) == 1 else 'checks'} {names} could not finish "
            f"({bad[0].detail.split('(', 1)[-1].split(')', 1)[0]}); the review is incomplete")


def _reviewed(session: ReviewSession):
    session.open(notify=stderr_notify)
    session.check()
    return session.review


def cmd_check(args) -> int:
    from workbench.report.text import print_text, summary_line, to_json_text

    if len(args.image) > 1:
        return _check_batch(args, summary_line)
    review = _reviewed(session_of(args, args.image[0]))
    if args.format == "sarif":
        from workbench.report.sarif import to_sarif

        print(json.dumps(to_sarif([review]), indent=2))
    elif args.format == "json":
        print(to_json_text(review))
    else:
        print_text(review)
    _say_errored(review)
    return review.exit_code


def _say_errored(review) -> None:
    sentence = errored_sentence(review)
    if sentence:
        print(sentence, file=sys.stderr)


# the worst exit code of a batch: a check that raised, then not ready, then not fully reviewed, then ready
_WORST = {0: 0, 3: 1, 1: 2, 2: 3}


def _check_batch(args, summary_line) -> int:
    """Several images at once: one appliance per image, as many in parallel as there are cores."""
    from concurrent.futures import ThreadPoolExecutor

    def one(path):
        try:
            return _reviewed(session_of(args, path)), None
        except WorkbenchError as e:
            return None, e

    with ThreadPoolExecutor(max_workers=min(len(args.image), os.cpu_count() or 1)) as pool:
        outcomes = list(pool.map(one, args.image))
    worst = 0
    done = []
    for review, error in outcomes:
        code = 2 if error is not None else review.exit_code
        worst = max(worst, code, key=_WORST.get)
        if error is not None:
            print(f"workbench: {error}" if not str(error).startswith("workbench") else str(error), file=sys.stderr)
            continue
        done.append(review)
        if args.format != "sarif":  # SARIF: one document for all of them, below
            print(json.dumps(review.to_json()) if args.format == "json" else summary_line(review))
        _say_errored(review)
    if args.format == "sarif":
        from workbench.report.sarif import to_sarif

        print(json.dumps(to_sarif(done), indent=2))
    return worst


def cmd_report(args) -> int:
    from pathlib import Path

    from workbench.report import document
    from workbench.report.verdict import verdict
    from workbench.staging import check_output, write_text

    suffix = Path(args.output).suffix.lower()
    if suffix not in document.SUFFIXES:
        raise UsageError(f"--output {args.output}: the name must end in .md, .html or .json")
    check_output(args.output, args.force, source=args.image)  # before the review: bad input costs nothing
    session = session_of(args)
    _reviewed(session)
    doc = session.document()
    write_text(args.output, document.render(doc, suffix), args.force)
    print(f"{args.output}: {verdict(doc.review)}")
    _say_errored(doc.review)
    return doc.review.exit_code


def cmd_osconf(args) -> int:
    from workbench.osconf_cli import osconf_command

    return osconf_command(args, read_input)


def cmd_simulate(args) -> int:
    from workbench import osconf
    from workbench.report.text import print_changeset

    session = session_of(args)
    session.take_facts(session.preflight())  # an image that cannot be opened: one sentence, first
    for p in osconf.validate(session.osconf or "")[1]:
        print(f"workbench: os.conf {p.line()}", file=sys.stderr)
    session.take_guest(*session.read_guest(notify=stderr_notify))
    cs = session.compute_simulation()
    if args.format == "json":
        print(json.dumps(cs.to_json(), indent=2))
    else:
        print_changeset(cs, diff=args.format == "diff")
    return 0 if cs.exit_code == 0 else 1


def _where(args) -> None:
    if args.in_place and not args.yes:
        raise UsageError("--in-place writes into the image itself; add --yes to confirm")
    if not args.in_place and not args.output and not getattr(args, "plan", False):
        raise UsageError("say where to write: --output OUT (a new image), or --in-place --yes")


def cmd_inject(args) -> int:
    from workbench.inject import InjectionPlan
    from workbench.report.text import print_inject

    _where(args)
    session = session_of(args)
    session.take_facts(session.preflight())

    def progress(p):
        if sys.stderr.isatty():
            print(f"workbench: {p.phase}…", file=sys.stderr)

    target = InjectTarget(args.output, args.in_place, args.force, args.output_format,
                          with_osconf=session.osconf is not None, plan_only=args.plan)
    result = session.inject(target, progress, stderr_notify)
    if args.format == "json":
        doc = {"schema": "workbench.inject-plan/1", **result.to_json()} if isinstance(result, InjectionPlan) \
            else result.to_json()
        print(json.dumps(doc, indent=2))
    else:
        print_inject(result)
    return 0


def cmd_uninject(args) -> int:
    from workbench.inject import uninject

    _where(args)
    done = uninject(args.image, args.output, args.in_place, args.force, notify=stderr_notify,
                    allow_backing=args.allow_backing)
    print(f"{done['output']}: removed {len(done['removed'])} path(s), restored {len(done['restored'])}")
    for p in done["removed"]:
        print(f"  removed  {p}")
    for p in done["restored"]:
        print(f"  restored {p}")
    for why in done.get("left", []):
        print(f"  left     {why}")
    return 0


def cmd_demo(args) -> int:
    from workbench.sample.centos import build_sample

    if os.path.exists(args.path) and not args.force:
        raise UsageError(f"{args.path} already exists (use --force to overwrite it)")
    fmt = "raw" if args.path.endswith((".raw", ".img")) else "qcow2"
    out = build_sample(args.path, fmt)
    print(f"sample image written to {out}")
    return 0


def cmd_rehearse(args) -> int:
    from workbench.report.text import print_rehearsal
    from workbench.text import printable

    if args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    session = session_of(args)
    # the guest's console is untrusted: no control characters reach the operator's terminal
    live = (lambda line: print(f"  | {printable(line, 300)}", file=sys.stderr)) if sys.stderr.isatty() else None
    result = session.rehearse(console=live, notify=stderr_notify)
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        print_rehearsal(result)
    return result.exit_code


def cmd_export(args) -> int:
    from workbench.report.text import export_progress

    session = ReviewSession(args.image, options_of(args))
    progress = export_progress(sys.stderr)
    result = session.export(args.output, args.output_format, args.force, args.compress, progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(json.dumps(result.to_json(), indent=2) if args.format == "json" else "\n".join(result.lines()))
    return 0


def cmd_import_plan(args) -> int:
    from workbench import importcmds, importrules

    given = importrules.Given(args.region, args.bucket, args.object, args.name, args.description,
                              [importrules.parse_tag(t) for t in args.tag], args.resource_group, args.role_name,
                              args.dry_run)
    importrules.validate(given, args.image)
    session = session_of(args)
    _reviewed(session)
    plan, _ = session.import_plan(given)
    print(json.dumps(plan.to_json(), indent=2) if args.format == "json" else importcmds.text(plan, args.image))
    return 0 if plan.ready else 1


COMMANDS = {"check": cmd_check, "export": cmd_export, "import-plan": cmd_import_plan, "demo": cmd_demo,
            "osconf": cmd_osconf, "simulate": cmd_simulate, "inject": cmd_inject, "uninject": cmd_uninject,
            "report": cmd_report, "rehearse": cmd_rehearse}
