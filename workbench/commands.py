"""The headless subcommands: each takes the parsed arguments and returns the exit code.

Exit codes: 0 fine, 1 a check failed (or a file is invalid), 2 bad input or a check that could
not finish: one sentence on stderr, never a traceback.
"""

from __future__ import annotations

import os
import sys

from workbench.errors import UsageError, WorkbenchError


def stderr_notify(message: str) -> None:
    print(f"workbench: {message}", file=sys.stderr)


def advisory_dirs(dirs: list[str]) -> tuple[str, ...]:
    for d in dirs:
        if not os.path.isdir(d):
            raise UsageError(f"--advisories {d}: no such directory")
    return tuple(dirs)


def errored_sentence(review) -> str | None:
    """One sentence naming the checks that raised, or None."""
    bad = review.errored
    if not bad:
        return None
    names = ", ".join(r.id for r in bad)
    return (f"workbench: {review.facts.name}: {'check' if len(bad) == 1 else 'checks'} {names} could not finish "
            f"({bad[0].detail.split('(', 1)[-1].split(')', 1)[0]}); the review is incomplete")


def cmd_check(args) -> int:
    from workbench.report.text import print_text, to_json_text
    from workbench.review import review_image

    options = {"advisories": advisory_dirs(args.advisories), "allow_backing": args.allow_backing}
    if len(args.image) > 1:
        return _check_batch(args, options)
    review = review_image(args.image[0], quick=args.quick, notify=stderr_notify, options=options)
    if args.format == "sarif":
        import json

        from workbench.report.sarif import to_sarif

        print(json.dumps(to_sarif([review]), indent=2))
    elif args.format == "json":
        print(to_json_text(review))
    else:
        print_text(review)
    sentence = errored_sentence(review)
    if sentence:
        print(sentence, file=sys.stderr)
    return review.exit_code


def _check_batch(args, options) -> int:
    """Several images at once: one appliance per image, as many in parallel as there are cores."""
    import json
    from concurrent.futures import ThreadPoolExecutor

    from workbench.report.text import summary_line
    from workbench.review import review_image

    def one(path):
        try:
            return review_image(path, quick=args.quick, notify=stderr_notify, options=options), None
        except WorkbenchError as e:
            return None, e

    with ThreadPoolExecutor(max_workers=min(len(args.image), os.cpu_count() or 1)) as pool:
        outcomes = list(pool.map(one, args.image))
    worst = 0
    done = []
    for path, (review, error) in zip(args.image, outcomes):
        if error is not None:
            print(f"workbench: {error}" if not str(error).startswith("workbench") else str(error), file=sys.stderr)
            worst = 2
            continue
        worst = max(worst, review.exit_code)
        done.append(review)
        if args.format != "sarif":  # SARIF: one document for all of them, below
            print(json.dumps(review.to_json()) if args.format == "json" else summary_line(review))
        sentence = errored_sentence(review)
        if sentence:
            print(sentence, file=sys.stderr)
    if args.format == "sarif":
        from workbench.report.sarif import to_sarif

        print(json.dumps(to_sarif(done), indent=2))
    return worst


def cmd_rehearse(args) -> int:
    import json

    from workbench.rehearse import rehearse
    from workbench.report.text import print_rehearsal
    from workbench.text import printable

    conf = read_input(args.os_conf, "os.conf").decode("utf-8", "replace")
    script = read_input(args.script, "script").decode("utf-8", "replace") if args.script else None
    if args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    # the guest's console is untrusted: no control characters reach the operator's terminal
    live = (lambda line: print(f"  | {printable(line, 300)}", file=sys.stderr)) if sys.stderr.isatty() else None
    result = rehearse(args.image, conf, args.flavor, script, args.timeout, args.boot, console=live,
                      notify=stderr_notify, allow_backing=args.allow_backing, disk=args.disk, firmware=args.firmware)
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        print_rehearsal(result)
    return result.exit_code


def cmd_report(args) -> int:
    from pathlib import Path

    from workbench.report import document
    from workbench.report.verdict import verdict
    from workbench.staging import check_output, write_text

    suffix = Path(args.output).suffix.lower()
    if suffix not in document.SUFFIXES:
        raise UsageError(f"--output {args.output}: the name must end in .md, .html or .json")
    check_output(args.output, args.force, source=args.image)  # before the review: bad input costs nothing
    conf = read_input(args.os_conf, "os.conf").decode("utf-8", "replace") if args.os_conf else None
    doc = document.build(args.image, conf, tuple(args.fix), {"advisories": advisory_dirs(args.advisories),
                                                             "allow_backing": args.allow_backing},
                         notify=stderr_notify)
    write_text(args.output, document.render(doc, suffix), args.force)
    print(f"{args.output}: {verdict(doc.review)}")
    sentence = errored_sentence(doc.review)
    if sentence:
        print(sentence, file=sys.stderr)
    return doc.review.exit_code


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


def cmd_osconf(args) -> int:
    from workbench import osconf

    if args.osconf_command == "validate":
        conf, problems = osconf.validate(read_input(args.file, "os.conf"))
        for p in problems:
            print(p.line())
        return 0 if conf is not None else 1
    if args.osconf_command == "render":
        import json

        if args.from_json:
            raw = read_input(args.from_json, "JSON file")
        elif not sys.stdin.isatty():
            raw = sys.stdin.buffer.read(1 << 20)
        else:
            print(osconf.EXAMPLE_VPC, end="")
            return 0
        try:
            values = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UsageError(f"the JSON input is not valid JSON ({e})") from None
        if not isinstance(values, dict):
            raise UsageError("the JSON input must be an object of os.conf keys")
        values = {k: (None if v is None else str(v) if isinstance(v, (int, float)) else v) for k, v in values.items()}
        conf, problems = osconf.from_values(values)
        for p in problems:
            print(p.line(), file=sys.stderr)
        if conf is None:
            return 1
        print(conf.render(), end="")
        return 0
    raise UsageError("workbench osconf: say validate FILE or render (see workbench osconf --help)")


def cmd_simulate(args) -> int:
    import json

    from workbench import osconf
    from workbench.image.preflight import preflight
    from workbench.image.session import GuestSession
    from workbench.report.text import print_changeset
    from workbench.simulate import simulate_image

    conf_bytes = read_input(args.os_conf, "os.conf")
    script = read_input(args.script, "script").decode("utf-8", "replace") if args.script else None
    facts = preflight(args.image, args.allow_backing)  # an image that cannot be opened: one sentence, first
    conf, problems = osconf.validate(conf_bytes)
    for p in problems:
        print(f"workbench: os.conf {p.line()}", file=sys.stderr)
    with GuestSession(facts, notify=stderr_notify) as session:
        report = session.open()
    cs = simulate_image(facts, report, conf_bytes.decode("utf-8", "replace"), args.flavor, script)
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
    import json

    from workbench.inject import InjectionPlan, inject
    from workbench.report.text import print_inject

    _where(args)
    script = read_input(args.script, "script").decode("utf-8", "replace") if args.script else None
    conf = read_input(args.os_conf, "os.conf").decode("utf-8", "replace") if args.os_conf else None

    def progress(p):
        if sys.stderr.isatty():
            print(f"workbench: {p.phase}…", file=sys.stderr)

    result = inject(args.image, args.output, args.in_place, args.force, args.flavor, script, tuple(args.fix), conf,
                    args.output_format, progress=progress, notify=stderr_notify, plan_only=args.plan,
                    allow_backing=args.allow_backing)
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


def cmd_export(args) -> int:
    import json
    import time

    from workbench.export import export

    tty = sys.stderr.isatty()
    shown = {"phase": None, "at": 0.0}

    def progress(phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if tty:
            pct = done * 100 // total if total else 0
            bar = "#" * (pct // 4)
            print(f"\r{phase:<11} [{bar:<25}] {done >> 20:>7} / {total >> 20} MiB", end="", file=sys.stderr)
        elif phase != shown["phase"] or now - shown["at"] > 10:
            print(f"workbench: {phase.lower()}: {done >> 20} of {total >> 20} MiB", file=sys.stderr)
        shown["phase"], shown["at"] = phase, now

    result = export(args.image, args.output, args.output_format, args.force, args.compress, progress,
                    args.allow_backing)
    if tty:
        print(file=sys.stderr)
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(f"{result.output}: {result.format}, {result.virtual_size / (1 << 30):.1f} GiB virtual, "
              f"{result.size >> 20} MiB written, verified (format, size, partition table)")
        print(f"sha256 {result.sha256} (in {result.sha256_file})")
        print(f"Content-MD5 {result.content_md5} (what OSS compares)")
    return 0


def cmd_import_plan(args) -> int:
    import json

    from workbench import importplan
    from workbench.review import review_image
    from workbench.text import printable

    importplan.validate(args.region, args.bucket, args.object, args.name, args.description)
    review = review_image(args.image, notify=stderr_notify, options={"allow_backing": args.allow_backing})
    plan = importplan.build(review, args.region, args.bucket, args.object, args.name, args.description)
    cmds = importplan.commands(plan, args.image)
    if args.format == "json":
        print(json.dumps(plan.to_json(), indent=2))
    else:
        print("ImportImage " + ("(ready)" if plan.ready else "(NOT READY: the blockers below fail the import)"))
        for key, value in plan.parameters.items():
            print(f"  {key} = {printable(str(value), 300)}")
        for b in plan.blockers:
            print(f"blocker: {printable(b, 400)}")
        for w in plan.warnings:
            print(f"warning: {printable(w, 400)}")
        print(f"The import needs the RAM role {importplan.ROLE} (authorised once per account).")
        print("\n# upload\n" + printable(cmds["ossutil"], 2000))
        print("\n# import\n" + printable(cmds["aliyun"], 4000))
        print("\n# terraform\n" + cmds["terraform"])
    return 0 if plan.ready else 1


COMMANDS = {"check": cmd_check, "export": cmd_export, "import-plan": cmd_import_plan, "demo": cmd_demo, "osconf": cmd_osconf, "simulate": cmd_simulate,
            "inject": cmd_inject, "uninject": cmd_uninject, "report": cmd_report, "rehearse": cmd_rehearse}
