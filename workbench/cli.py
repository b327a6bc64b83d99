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

SUBCOMMANDS = ("check", "demo")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one sentence, exit 2
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="workbench", description="Review a Linux disk image and prepare it for import into "
                                              "Alibaba Cloud ECS as a Customized Linux image.")
    p.add_argument("--version", action="version", version=f"workbench {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    c = sub.add_parser("check", help="check the import limits and the security review, headless")
    c.add_argument("image", help="disk image (qcow2, raw, vhd, vmdk, ...)")
    c.add_argument("--quick", action="store_true", help="host-side preflight only (no appliance); guest checks skip")
    c.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    c.add_argument("--advisories", action="append", default=[], metavar="DIR",
                   help="also compare packages with the OSV advisories in DIR (repeatable; e.g. a distro feed)")

    d = sub.add_parser("demo", help="build the sample image (CentOS 7-like, with deliberate findings)")
    d.add_argument("path", nargs="?", default="sample.qcow2", help="where to write it (default sample.qcow2)")
    d.add_argument("--force", action="store_true", help="overwrite an existing file")
    return p


def _stderr_notify(message: str) -> None:
    print(f"workbench: {message}", file=sys.stderr)


def cmd_check(args) -> int:
    from workbench.report import print_text, to_json_text
    from workbench.review import review_image

    for d in args.advisories:
        if not os.path.isdir(d):
            raise UsageError(f"--advisories {d}: no such directory")
    review = review_image(args.image, quick=args.quick, notify=_stderr_notify,
                          options={"advisories": tuple(args.advisories)})
    if args.format == "json":
        print(to_json_text(review))
    else:
        print_text(review)
    return review.exit_code


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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and not argv[0].startswith("-") and argv[0] not in SUBCOMMANDS:
            return cmd_tui(argv)
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help()
            return 2
        return {"check": cmd_check, "demo": cmd_demo}[args.command](args)
    except WorkbenchError as e:
        print(str(e) if str(e).startswith("workbench") else f"workbench: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
