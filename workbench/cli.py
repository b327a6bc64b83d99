"""Command line: `workbench IMAGE` opens the TUI; subcommands run headless.

Exit codes: 0 fine, 1 a check failed (or a file is invalid), 2 bad input:
one sentence on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from workbench import __version__
from workbench.errors import UsageError, WorkbenchError

FLAVOR_NAMES = ("sysconfig", "ifupdown", "netplan", "networkd", "networkmanager", "wicked", "netifrc")

SUBCOMMANDS = ("check", "demo", "osconf", "simulate", "inject", "uninject", "report", "rehearse")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one sentence, exit 2
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="workbench", description="Review a Linux disk image and prepare it for import into "
                                              "Alibaba Cloud ECS as a Customized Linux image.")
    p.add_argument("--version", action="version", version=f"workbench {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    c = sub.add_parser("check", help="check the import limits and the security review, headless")
    c.add_argument("image", nargs="+", help="disk image(s) (qcow2, raw, vhd, vmdk, ...); several are reviewed in "
                                           "parallel")
    c.add_argument("--quick", action="store_true", help="host-side preflight only (no appliance); guest checks skip")
    c.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    c.add_argument("--advisories", action="append", default=[], metavar="DIR",
                   help="also compare packages with the OSV advisories in DIR (repeatable; e.g. a distro feed)")

    o = sub.add_parser("osconf", help="validate or render an os.conf")
    osub = o.add_subparsers(dest="osconf_command", parser_class=_Parser)
    ov = osub.add_parser("validate", help="check every key of an os.conf; exit 1 when it is invalid")
    ov.add_argument("file")
    orr = osub.add_parser("render", help="write an os.conf from JSON (stdin, or --from-json FILE)")
    orr.add_argument("--from-json", metavar="FILE", help="a JSON object of os.conf keys")

    sm = sub.add_parser("simulate", help="run the first-boot parser in a sandbox and show what it would change")
    sm.add_argument("image")
    sm.add_argument("--os-conf", required=True, metavar="FILE", help="the os.conf the platform would write")
    g = sm.add_mutually_exclusive_group()
    g.add_argument("--flavor", choices=sorted(FLAVOR_NAMES), help="parser flavour (default: the image's network stack)")
    g.add_argument("--script", metavar="FILE", help="run this parser script instead of the workbench's own")
    sm.add_argument("--format", choices=("text", "json", "diff"), default="text")

    rh = sub.add_parser("rehearse", help="boot a throwaway copy with the os.conf and compare with the simulation")
    rh.add_argument("image")
    rh.add_argument("--os-conf", required=True, metavar="FILE")
    g3 = rh.add_mutually_exclusive_group()
    g3.add_argument("--flavor", choices=sorted(FLAVOR_NAMES))
    g3.add_argument("--script", metavar="FILE")
    rh.add_argument("--timeout", type=float, default=600, metavar="S", help="give up after S seconds of boot (600)")
    rh.add_argument("--boot", choices=("auto", "bootloader", "kernel"), default="auto",
                    help="boot by the image's own bootloader or directly with its kernel (auto: the bootloader when "
                         "it has one that puts the console on ttyS0)")
    rh.add_argument("--format", choices=("text", "json"), default="text")

    rp = sub.add_parser("report", help="the whole review as a document (Markdown, HTML or JSON)")
    rp.add_argument("image")
    rp.add_argument("--output", required=True, metavar="FILE", help="FILE.md, FILE.html or FILE.json")
    rp.add_argument("--os-conf", metavar="FILE", help="simulate the first boot with this os.conf")
    rp.add_argument("--fix", action="append", default=[], metavar="ID", help="fixes to include in the plan")
    rp.add_argument("--advisories", action="append", default=[], metavar="DIR")
    rp.add_argument("--force", action="store_true", help="replace FILE if it exists")

    inj = sub.add_parser("inject", help="install the parser (and chosen fixes) into a new image, or in place")
    inj.add_argument("image")
    where = inj.add_mutually_exclusive_group()
    where.add_argument("--output", metavar="OUT", help="write a new image OUT (the source stays untouched)")
    where.add_argument("--in-place", action="store_true", help="write into IMAGE itself (needs --yes)")
    inj.add_argument("--yes", action="store_true", help="confirm --in-place")
    inj.add_argument("--force", action="store_true", help="replace OUT if it exists")
    g2 = inj.add_mutually_exclusive_group()
    g2.add_argument("--flavor", choices=sorted(FLAVOR_NAMES), help="parser flavour (default: the image's network stack)")
    g2.add_argument("--script", metavar="FILE", help="install this parser script instead of the workbench's own")
    inj.add_argument("--fix", action="append", default=[], metavar="ID", help="apply a fix offered by the checks "
                     "(repeatable, e.g. fix.remove-host-keys)")
    inj.add_argument("--os-conf", metavar="FILE", help="also place this os.conf, to test the image with")
    inj.add_argument("--output-format", choices=("qcow2", "raw", "vpc", "vmdk", "vhdx"),
                     help="format of OUT (default: the source's)")
    inj.add_argument("--plan", action="store_true", help="only show what would be written")
    inj.add_argument("--format", choices=("text", "json"), default="text")

    un = sub.add_parser("uninject", help="remove what inject wrote (as its manifest lists)")
    un.add_argument("image")
    where = un.add_mutually_exclusive_group()
    where.add_argument("--output", metavar="OUT")
    where.add_argument("--in-place", action="store_true")
    un.add_argument("--yes", action="store_true")
    un.add_argument("--force", action="store_true")

    d = sub.add_parser("demo", help="build the sample image (CentOS 7-like, with deliberate findings)")
    d.add_argument("path", nargs="?", default="sample.qcow2", help="where to write it (default sample.qcow2)")
    d.add_argument("--force", action="store_true", help="overwrite an existing file")
    return p


def _stderr_notify(message: str) -> None:
    print(f"workbench: {message}", file=sys.stderr)


def _advisory_dirs(dirs: list[str]) -> tuple[str, ...]:
    for d in dirs:
        if not os.path.isdir(d):
            raise UsageError(f"--advisories {d}: no such directory")
    return tuple(dirs)


def cmd_check(args) -> int:
    from workbench.report import print_text, to_json_text
    from workbench.review import review_image

    options = {"advisories": _advisory_dirs(args.advisories)}
    if len(args.image) > 1:
        return _check_batch(args, options)
    review = review_image(args.image[0], quick=args.quick, notify=_stderr_notify, options=options)
    if args.format == "json":
        print(to_json_text(review))
    else:
        print_text(review)
    return review.exit_code


def _check_batch(args, options) -> int:
    """Several images at once: one appliance per image, as many in parallel as there are cores."""
    import json
    from concurrent.futures import ThreadPoolExecutor

    from workbench.report import summary_line
    from workbench.review import review_image

    def one(path):
        try:
            return review_image(path, quick=args.quick, notify=_stderr_notify, options=options), None
        except WorkbenchError as e:
            return None, e

    with ThreadPoolExecutor(max_workers=min(len(args.image), os.cpu_count() or 1)) as pool:
        outcomes = list(pool.map(one, args.image))
    worst = 0
    for path, (review, error) in zip(args.image, outcomes):
        if error is not None:
            print(f"workbench: {error}" if not str(error).startswith("workbench") else str(error), file=sys.stderr)
            worst = 2
            continue
        worst = max(worst, review.exit_code)
        print(json.dumps(review.to_json()) if args.format == "json" else summary_line(review))
    return worst


def cmd_rehearse(args) -> int:
    import json

    from workbench.rehearse import rehearse
    from workbench.report import print_rehearsal
    from workbench.units import printable

    conf = _read_input(args.os_conf, "os.conf").decode("utf-8", "replace")
    script = _read_input(args.script, "script").decode("utf-8", "replace") if args.script else None
    if args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    # the guest's console is untrusted: no control characters reach the operator's terminal
    live = (lambda line: print(f"  | {printable(line, 300)}", file=sys.stderr)) if sys.stderr.isatty() else None
    result = rehearse(args.image, conf, args.flavor, script, args.timeout, args.boot, console=live,
                      notify=_stderr_notify)
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        print_rehearsal(result)
    return result.exit_code


def cmd_report(args) -> int:
    from pathlib import Path

    from workbench import document

    suffix = Path(args.output).suffix.lower()
    if suffix not in document.RENDERERS:
        raise UsageError(f"--output {args.output}: the name must end in .md, .html or .json")
    if os.path.exists(args.output) and not args.force:
        raise UsageError(f"{args.output} already exists (use --force to replace it)")
    directory = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise UsageError(f"{directory} is not a writable directory")
    conf = _read_input(args.os_conf, "os.conf").decode("utf-8", "replace") if args.os_conf else None
    doc = document.build(args.image, conf, tuple(args.fix), {"advisories": _advisory_dirs(args.advisories)},
                         notify=_stderr_notify)
    text = document.render(doc, suffix)
    tmp = args.output + ".wb-partial"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, args.output)
    print(f"{args.output}: {document.verdict(doc.review)}")
    return doc.review.exit_code


def _read_input(path: str, what: str, limit: int = 1 << 20) -> bytes:
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
        conf, problems = osconf.validate(_read_input(args.file, "os.conf"))
        for p in problems:
            print(p.line())
        return 0 if conf is not None else 1
    if args.osconf_command == "render":
        import json

        if args.from_json:
            raw = _read_input(args.from_json, "JSON file")
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
    from workbench.report import print_changeset
    from workbench.simulate import simulate_image

    conf_bytes = _read_input(args.os_conf, "os.conf")
    script = _read_input(args.script, "script").decode("utf-8", "replace") if args.script else None
    conf, problems = osconf.validate(conf_bytes)
    for p in problems:
        print(f"workbench: os.conf {p.line()}", file=sys.stderr)
    facts = preflight(args.image)
    with GuestSession(facts, notify=_stderr_notify) as session:
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
    from workbench.report import print_inject

    _where(args)
    script = _read_input(args.script, "script").decode("utf-8", "replace") if args.script else None
    conf = _read_input(args.os_conf, "os.conf").decode("utf-8", "replace") if args.os_conf else None

    def progress(p):
        if sys.stderr.isatty():
            print(f"workbench: {p.phase}…", file=sys.stderr)

    result = inject(args.image, args.output, args.in_place, args.force, args.flavor, script, tuple(args.fix), conf,
                    args.output_format, progress=progress, notify=_stderr_notify, plan_only=args.plan)
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
    done = uninject(args.image, args.output, args.in_place, args.force, notify=_stderr_notify)
    print(f"{done['output']}: removed {len(done['removed'])} path(s), restored {len(done['restored'])}")
    for p in done["removed"]:
        print(f"  removed  {p}")
    for p in done["restored"]:
        print(f"  restored {p}")
    return 0


def cmd_demo(args) -> int:
    from workbench.demo import build_sample

    if os.path.exists(args.path) and not args.force:
        raise UsageError(f"{args.path} already exists (use --force to overwrite it)")
    fmt = "raw" if args.path.endswith((".raw", ".img")) else "qcow2"
    out = build_sample(args.path, fmt)
    print(f"sample image written to {out}")
    return 0


def cmd_tui(argv: list[str]) -> int:
    p = _Parser(prog="workbench", description="Open the workbench on IMAGE.")
    p.add_argument("image")
    p.add_argument("--advisories", action="append", default=[], metavar="DIR")
    args = p.parse_args(argv)
    for d in args.advisories:
        if not os.path.isdir(d):
            raise UsageError(f"--advisories {d}: no such directory")
    from workbench.image.preflight import preflight

    facts = preflight(args.image)  # bad input: one sentence and exit 2, before the screen takes over
    from workbench.app import make_app

    app = make_app(args.image, facts, options={"advisories": tuple(args.advisories)})
    app.run()
    return app.return_code or 0


def _terminate(signum, frame):
    """SIGTERM unwinds like ^C, so that partial outputs are removed on the way out."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    try:
        if argv and not argv[0].startswith("-") and argv[0] not in SUBCOMMANDS:
            return cmd_tui(argv)
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help()
            return 2
        return {"check": cmd_check, "demo": cmd_demo, "osconf": cmd_osconf, "simulate": cmd_simulate,
                "inject": cmd_inject, "uninject": cmd_uninject, "report": cmd_report,
                "rehearse": cmd_rehearse}[args.command](args)
    except WorkbenchError as e:
        print(str(e) if str(e).startswith("workbench") else f"workbench: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug or an unforeseen guest: still one sentence, never a traceback
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        print(f"workbench: unexpected {type(e).__name__}: {first} (please report this)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
