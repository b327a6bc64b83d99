"""What systemd would start at boot, against workbench/enablement.py and the service.risky check, over
generated unit trees with hostile variations. The consumer is systemd's own unit loader and transaction
builder, offline: `systemctl --root=DIR preset-all --preset-mode=enable-only` where /etc/machine-id makes the
boot a first boot (PID 1 then does exactly that), then `systemd-analyze verify --root=DIR default.target`,
whose debug log lists every start job of the boot transaction. (`systemctl is-enabled` alone would not do:
it calls a unit whose only link is an Alias= "enabled", and one wanted from /usr/local/lib "disabled",
though systemd starts it; the first test below shows the second.)"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

from tests.unit.differential.consumers import need, report, run
from tests.unit.security_trees import context
from workbench.checks import REGISTRY, all_checks, run_check
from workbench.enablement import systemd_enabled
from workbench.image.tree import GuestTree

CORPUS = 300
UNITS = {"telnet.socket": "sockets.target", "vsftpd.service": "multi-user.target",
         "tftp.service": "multi-user.target", "rpcbind.service": "multi-user.target",
         "finger.socket": "sockets.target", "rsh@.service": "multi-user.target"}
VENDOR = ["/usr/lib/systemd/system", "/lib/systemd/system", "/usr/local/lib/systemd/system"]
LINK_DIRS = ["/etc/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system",
             "/lib/systemd/system", "/etc/systemd/system.control", "/etc/systemd/system.attached"]
PRESETS = ["disable *\n", "enable vsftpd.service\ndisable *\n", "disable telnet.*\n", "# nothing\n",
           "enable *\n", "disable tftp.service\n"]


def _unit_text(r: random.Random, name: str, target: str) -> str:
    kind = "Socket" if name.endswith(".socket") else "Service"
    body = f"[Unit]\nDescription={name}\n\n[{kind}]\n" + ("ListenStream=23\n" if kind == "Socket" else
                                                           "ExecStart=/bin/true\n")
    roll = r.random()
    if roll < 0.55:
        key = r.choice(["WantedBy", "WantedBy", "RequiredBy", "wantedby"])
        body += f"\n[Install]\n{key}={target}\n"
        if "@." in name and r.random() < 0.5:
            body += "DefaultInstance=main\n"
    elif roll < 0.65:
        body += "\n[Install]\nAlias=innocent-" + name + "\n"
    elif roll < 0.7:
        body = ""  # an empty unit file: systemd takes it as masked
    return body


TARGETS = {"multi-user.target": "[Unit]\nRequires=basic.target\n", "basic.target": "[Unit]\nWants=sockets.target\n",
           "sockets.target": "[Unit]\nDescription=s\n", "graphical.target": "[Unit]\nRequires=multi-user.target\n"}


def _tree(r: random.Random) -> tuple[dict[str, str], dict[str, str]]:
    files: dict[str, str] = {f"/usr/lib/systemd/system/{n}": t for n, t in TARGETS.items()}
    files.update({"/etc/systemd/system/.keep": "", "/usr/local/lib/systemd/system/.keep": ""})
    links: dict[str, str] = {"/usr/lib/systemd/system/default.target": "graphical.target"}
    merged = r.random() < 0.5
    if merged:
        links["/lib"] = "usr/lib"
    for name, target in UNITS.items():
        if r.random() < 0.8:
            where = r.choice(VENDOR if not merged else [VENDOR[0], VENDOR[2]])
            files[f"{where}/{name}"] = _unit_text(r, name, target)
            if r.random() < 0.1:  # another copy earlier in the search path
                files[f"/etc/systemd/system/{name}"] = _unit_text(r, name, target)
        for _ in range(r.choice([0, 0, 1, 1, 2])):
            d = r.choice(LINK_DIRS if not merged else [x for x in LINK_DIRS if not x.startswith("/lib")])
            link_name = name.replace("@.", "@tty1.") if "@." in name else name
            how = r.random()
            dest = r.choice([f"/usr/lib/systemd/system/{name}", f"../{name}", f"/usr/local/lib/systemd/system/{name}"])
            if how < 0.55:
                links[f"{d}/{r.choice([target, 'graphical.target', 'default.target'])}.{r.choice(['wants', 'wants', 'requires'])}/{link_name}"] = dest
            elif how < 0.7:  # an alias, and the alias enabled
                alias = f"innocent-{name}"
                links[f"{d}/{alias}"] = dest
                links[f"{d}/{target}.wants/{alias}"] = f"{d}/{alias}"
            elif how < 0.8:  # a dependency link named like another unit
                links[f"{d}/{target}.wants/harmless-{name}"] = dest
            else:
                links[f"{d}/{name}"] = "/dev/null"
    roll = r.random()
    if roll < 0.35:
        files["/etc/machine-id"] = "0123456789abcdef0123456789abcdef\n"
    elif roll < 0.55:
        files["/etc/machine-id"] = r.choice(["", "uninitialized\n"])
    if r.random() < 0.08:  # a target's drop-in that wants it
        name = r.choice(list(UNITS))
        files[f"/etc/systemd/system/multi-user.target.d/{r.choice(['x', 'override'])}.conf"] = f"[Unit]\nWants={name}\n"
    if r.random() < 0.5:
        d = r.choice(["/etc/systemd/system-preset", "/usr/lib/systemd/system-preset"])
        files[f"{d}/{r.choice(['50-site', '90-systemd', '99-default'])}.preset"] = r.choice(PRESETS)
    return files, links


def _materialise(root: Path, files: dict[str, str], links: dict[str, str]) -> None:
    for path, text in files.items():
        p = root / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    for path, target in sorted(links.items(), key=lambda kv: kv[0].count("/")):
        p = root / path.lstrip("/")
        if not p.parent.is_symlink():
            p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists() and not p.is_symlink():
            p.symlink_to(target)


def _guest(files: dict[str, str], links: dict[str, str]) -> GuestTree:
    tree = GuestTree.from_dict({p: t for p, t in files.items() if not p.endswith(".keep")})
    for path, target in sorted(links.items(), key=lambda kv: kv[0].count("/")):
        real = tree.resolve(os.path.dirname(path))
        if tree.node(f"{real}/{os.path.basename(path)}", follow=False) is None:  # as _materialise: first one wins
            tree.add_link(f"{real}/{os.path.basename(path)}", target)
    return tree


def started(root: Path, first_boot: bool) -> set[str]:
    """The units systemd would start at boot in this tree (the first boot's presets applied first)."""
    if first_boot:
        run([need("systemctl"), f"--root={root}", "preset-all", "--preset-mode=enable-only"])
    proc = run([need("systemd-analyze"), "verify", f"--root={root}", "--man=no", "--generators=no", "default.target"],
               env={**os.environ, "SYSTEMD_LOG_LEVEL": "debug", "SYSTEMD_LOG_COLOR": "0"})
    return set(re.findall(r"^(\S+): Installed new job \S+/start as \d+$", proc.stderr.decode("utf-8", "replace"),
                          re.M))


def _matches(job: str, unit: str) -> bool:
    if "@." in unit:
        prefix, suffix = unit.split("@", 1)
        return job.startswith(prefix + "@") and job.endswith(suffix[1:])
    return job == unit


def test_units_systemd_would_start_are_seen(tmp_path):
    """For every generated tree, each risky unit in systemd's boot transaction (after the first boot's presets
    where /etc/machine-id makes it a first boot), our reader finds enabled, and service.risky fails."""
    need("systemctl")
    need("systemd-analyze")
    all_checks()
    bad, starting = [], 0
    r = random.Random(22)
    for i in range(CORPUS):
        files, links = _tree(r)
        root = tmp_path / f"t{i}"
        _materialise(root, files, links)
        machine_id = files.get("/etc/machine-id")
        jobs = started(root, machine_id is None or machine_id.strip() in ("", "uninitialized"))
        tree = _guest(files, links)
        theirs = [n for n in UNITS if any(_matches(j, n) for j in jobs)]
        starting += bool(theirs)
        try:
            missed = [n for n in theirs if not systemd_enabled(tree, n)]
        except Exception as e:  # a crash is a disagreement too
            missed = [f"{type(e).__name__}: {e}"]
        spec = f"files {sorted(files)} links {links}"
        if missed:
            bad.append(f"#{i} {spec}: systemd starts {missed}; we do not see it (its jobs: {sorted(jobs)})")
        if theirs:
            ctx = context({p: t for p, t in files.items() if not p.endswith(".keep")})
            ctx.guest.tree = tree
            result = run_check(REGISTRY["service.risky"], ctx)
            if result.status != "fail":
                bad.append(f"#{i} {spec}: systemd starts {theirs}; service.risky says {result.status}")
    assert starting > CORPUS // 4, f"only {starting} of {CORPUS} generated trees start a risky unit"
    report(bad, CORPUS, f"systemd's boot transaction ({starting} trees start a risky unit)")


def test_a_unit_enabled_under_usr_local_is_seen(tmp_path):
    systemctl = need("systemctl")
    files = {"/usr/local/lib/systemd/system/vsftpd.service": "[Service]\nExecStart=/x\n[Install]\nWantedBy=multi-user.target\n",
             "/etc/machine-id": "0123456789abcdef0123456789abcdef\n", "/etc/systemd/system/.keep": ""}
    files.update({f"/usr/lib/systemd/system/{n}": t for n, t in TARGETS.items()})
    links = {"/usr/local/lib/systemd/system/multi-user.target.wants/vsftpd.service": "../vsftpd.service",
             "/usr/lib/systemd/system/default.target": "multi-user.target"}
    _materialise(tmp_path, files, links)
    assert "vsftpd.service" in started(tmp_path, False)  # systemd starts it at boot...
    state = run([systemctl, f"--root={tmp_path}", "is-enabled", "vsftpd.service"]).stdout.decode().strip()
    assert state == "disabled"  # ...though is-enabled says otherwise
    all_checks()
    ctx = context({p: t for p, t in files.items() if not p.endswith(".keep")})
    ctx.guest.tree = _guest(files, links)
    r = run_check(REGISTRY["service.risky"], ctx)
    assert r.status == "fail" and "FTP server" in r.detail


def test_the_first_boot_presets_enable_a_unit_no_link_shows(tmp_path):
    """A preset-less image with an empty machine-id: at its first boot systemd enables every unit with an
    [Install] section."""
    files = {"/usr/lib/systemd/system/telnet.socket": "[Socket]\nListenStream=23\n[Install]\nWantedBy=sockets.target\n",
             "/etc/machine-id": "", "/etc/systemd/system/.keep": ""}
    files.update({f"/usr/lib/systemd/system/{n}": t for n, t in TARGETS.items()})
    _materialise(tmp_path, files, {"/usr/lib/systemd/system/default.target": "multi-user.target"})
    assert "telnet.socket" in started(tmp_path, True)
    all_checks()
    r = run_check(REGISTRY["service.risky"], context({p: t for p, t in files.items() if not p.endswith(".keep")}))
    assert r.status == "fail" and "first boot" in " ".join(r.evidence)
    set_id = context({**{p: t for p, t in files.items() if not p.endswith(".keep")},
                      "/etc/machine-id": "0123456789abcdef0123456789abcdef\n"})
    assert run_check(REGISTRY["service.risky"], set_id).status == "pass"  # not a first boot: nothing enables it
