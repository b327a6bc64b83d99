"""Command line: `workbench IMAGE` opens the TUI; subcommands run headless (commands.py).

Exit codes: 0 fine (ready, or ready with warnings), 1 not ready / will be rejected (or a file is invalid),
2 bad input or a check that could not finish, 3 not fully reviewed: one sentence on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from workbench import __version__, commands
from workbench.errors import UsageError, WorkbenchError
from workbench.interrupt import exit_code, raise_terminated
from workbench.flavors import FLAVORS

FLAVOR_NAMES = tuple(FLAVORS)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one sentence, exit 2
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _allow_backing(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-backing", action="store_true",
                   help="read an image that is an overlay on local backing files (each named in the output); "
                        "without it such an image is refused, as is any that names a protocol or an external file")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="workbench", description="Review a Linux disk image and prepare it for import into "
                                              "Alibaba Cloud ECS as a Customized Linux image.")
    p.add_argument("--version", action="version", version=f"workbench {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    c = sub.add_parser("check", help="check the import limits and the security review, headless")
    c.add_argument("image", nargs="+", help="disk image(s) (qcow2, raw, vhd, vmdk, ...); several are reviewed in "
                                           "parallel")
    c.add_argument("--quick", action="store_true", help="host-side preflight only (no appliance); guest checks skip")
    c.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                   help="output format (default text; sarif: SARIF 2.1.0 for CI dashboards)")
    c.add_argument("--advisories", action="append", default=[], metavar="DIR",
                   help="also compare packages with the OSV advisories in DIR (repeatable; e.g. a distro feed)")
    _allow_backing(c)

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
    _allow_backing(sm)

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
    rh.add_argument("--disk", choices=("virtio", "nvme"), default="virtio",
                    help="the system disk's bus, as on ECS: virtio-blk (default) or NVMe (newer instance families)")
    rh.add_argument("--firmware", choices=("auto", "bios", "uefi"), default="auto",
                    help="BIOS (SeaBIOS) or UEFI (OVMF); auto: from the image's boot mode")
    rh.add_argument("--first-boot-only", action="store_true",
                    help="boot once: skip the later boots (a reboot without os.conf, then one with a changed "
                         "password and host name)")
    rh.add_argument("--format", choices=("text", "json"), default="text")
    _allow_backing(rh)

    rp = sub.add_parser("report", help="the whole review as a document (Markdown, HTML or JSON)")
    rp.add_argument("image")
    rp.add_argument("--output", required=True, metavar="FILE", help="FILE.md, FILE.html or FILE.json")
    rp.add_argument("--os-conf", metavar="FILE", help="simulate the first boot with this os.conf")
    rp.add_argument("--fix", action="append", default=[], metavar="ID", help="fixes to include in the plan")
    rp.add_argument("--advisories", action="append", default=[], metavar="DIR")
    rp.add_argument("--force", action="store_true", help="replace FILE if it exists")
    _allow_backing(rp)

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
    _allow_backing(inj)

    ex = sub.add_parser("export", help="convert the image for upload, verified, with OUT.sha256, OUT.crc64 (OSS's "
                        "x-oss-hash-crc64ecma) and the Content-MD5")
    ex.add_argument("image")
    ex.add_argument("--output", required=True, metavar="OUT")
    ex.add_argument("--output-format", choices=("qcow2", "raw", "vhd"), default=None,
                    help="default: from OUT's suffix (.qcow2, .raw or .img, .vhd), else qcow2")
    ex.add_argument("--compress", action="store_true", help="compress the qcow2 output")
    ex.add_argument("--force", action="store_true", help="replace an existing OUT")
    ex.add_argument("--format", choices=("text", "json"), default="text")
    _allow_backing(ex)

    ip = sub.add_parser("import-plan", help="the ImportImage request the review implies (aliyun CLI, ossutil, "
                        "Terraform)")
    ip.add_argument("image")
    ip.add_argument("--region", metavar="R")
    ip.add_argument("--bucket", metavar="B")
    ip.add_argument("--object", metavar="KEY")
    ip.add_argument("--name", metavar="NAME")
    ip.add_argument("--description", metavar="TEXT")
    ip.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="a tag for the image (repeatable)")
    ip.add_argument("--resource-group", metavar="RG", help="the resource group id for the image")
    ip.add_argument("--role-name", metavar="ROLE", help="the RAM role of the import, when not the default one")
    ip.add_argument("--dry-run", action="store_true", help="the DryRun form: checks the request, imports nothing")
    ip.add_argument("--format", choices=("text", "json"), default="text")
    _allow_backing(ip)

    un = sub.add_parser("uninject", help="remove what inject wrote (as its manifest lists)")
    un.add_argument("image")
    where = un.add_mutually_exclusive_group()
    where.add_argument("--output", metavar="OUT")
    where.add_argument("--in-place", action="store_true")
    un.add_argument("--yes", action="store_true")
    un.add_argument("--force", action="store_true")
    _allow_backing(un)

    d = sub.add_parser("demo", help="build the sample image (CentOS 7-like, with deliberate findings)")
    d.add_argument("path", nargs="?", default="sample.qcow2", help="where to write it (default sample.qcow2)")
    d.add_argument("--force", action="store_true", help="overwrite an existing file")
    return p


def cmd_tui(argv: list[str]) -> int:
    p = _Parser(prog="workbench", description="Open the workbench on IMAGE.")
    p.add_argument("image")
    p.add_argument("--advisories", action="append", default=[], metavar="DIR")
    _allow_backing(p)
    args = p.parse_args(argv)
    session = commands.session_of(args)
    facts = session.preflight()  # bad input: one sentence and exit 2, before the TUI starts
    from screens.app import make_app  # the one place the core reaches the UI

    app = make_app(args.image, facts, options=session.options)
    app.run()
    return app.return_code or 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    import signal

    signal.signal(signal.SIGTERM, raise_terminated)  # unwinds like ^C: partial outputs are removed on the way out
    try:
        if argv and not argv[0].startswith("-") and argv[0] not in commands.COMMANDS:
            return cmd_tui(argv)
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help()
            return 2
        return commands.COMMANDS[args.command](args)
    except WorkbenchError as e:
        print(str(e) if str(e).startswith("workbench") else f"workbench: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        code = exit_code(e)
        print("workbench: terminated" if code == 143 else "workbench: interrupted", file=sys.stderr)
        return code
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug or an unforeseen guest: still one sentence, never a traceback
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        print(f"workbench: unexpected {type(e).__name__}: {first} (please report this)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
