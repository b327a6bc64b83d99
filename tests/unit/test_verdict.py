"""The verdict's outcomes and their reasons, from check results."""

from workbench.checks import CheckResult
from workbench.verdict import verdict_of


def r(cid, status, severity="high", area=None):
    return CheckResult(cid, status, severity, cid.replace(".", " "), f"{cid} {status}", area=area or cid.split(".")[0])


CLEAN = [r("limit.virtual-size", "pass", "blocker", "limits"), r("password.empty", "pass", area="passwords"),
         r("ssh.host-keys", "pass"), r("vuln.remote", "pass", area="vulns"), r("boot.kernel", "pass", "blocker")]


def test_a_clean_image_is_ready():
    v = verdict_of(CLEAN)
    assert (v.outcome, v.reasons, v.line(), v.kind) == ("ready to import", [], "ready to import", "ok")


def test_a_failed_limit_is_rejected_before_anything_else():
    v = verdict_of(CLEAN[1:] + [r("limit.virtual-size", "fail", "blocker", "limits"), r("ssh.host-keys", "fail")])
    assert v.outcome == "will be rejected" and v.reasons == ["limit virtual-size (limit.virtual-size)"]


def test_what_the_import_rules_forbid_is_not_ready_and_named():
    results = CLEAN + [r("password.default", "fail", area="passwords"), r("ssh.authorized-keys", "fail"),
                       r("ssh.sshd-config", "fail"), r("vuln.remote", "fail", area="vulns"),
                       r("boot.initramfs-drivers", "fail", "blocker"), r("service.risky", "fail", area="services"),
                       r("password.weak-hash", "fail", "medium", "passwords"), r("guest.agents", "skip", "medium")]
    v = verdict_of(results)
    assert v.outcome == "not ready" and v.kind == "bad"
    assert v.reasons == ["the import rules forbid default or empty passwords (password.default)",
                         "the import rules forbid default SSH key pairs and logins (ssh.authorized-keys, "
                         "ssh.sshd-config)",
                         "the import rules forbid remotely exploitable vulnerabilities (vuln.remote)",
                         "it would not start on ECS (boot.initramfs-drivers)"]


def test_a_check_that_did_not_run_is_not_a_pass():
    v = verdict_of(CLEAN + [r("vuln.remote", "skip", area="vulns"), r("ssh.user-keys", "error"),
                            r("boot.serial-console", "warn", "low")])
    assert v.outcome == "not fully reviewed" and v.kind == "warn"
    assert v.reasons == ["vuln.remote was skipped: vuln.remote skip", "ssh.user-keys was not finished: "
                                                                        "ssh.user-keys error"]


def test_only_warnings_or_failures_the_rules_allow():
    v = verdict_of(CLEAN + [r("boot.serial-console", "warn", "low"), r("service.risky", "fail", area="services")])
    assert v.outcome == "ready with warnings"
    assert v.reasons == ["warning: boot.serial-console", "failed: service.risky"]
    assert v.to_json() == {"outcome": "ready with warnings", "reasons": v.reasons}


def test_a_warning_because_something_was_not_read_is_not_fully_reviewed():
    """A 5 MiB /etc/shadow is not read: password.empty warns (fail-closed), and the review claims nothing."""
    from workbench.checks import Check, Context, fail_closed
    from workbench.image.tree import GuestTree

    tree = GuestTree()
    tree.mark_unread("/etc/shadow", "5242880 bytes, not read (over 4 MiB)")
    c = Check("password.empty", "no empty passwords", "passwords", "high", True, lambda c, ctx: None,
              reads=("/etc/shadow",))
    ctx = Context(facts=None, guest=type("G", (), {"tree": tree, "os": object()})())
    warned = fail_closed(c, ctx, c.result("pass", "no empty password"))
    assert warned.status == "warn" and warned.incomplete
    v = verdict_of(CLEAN + [warned])
    assert v.outcome == "not fully reviewed"
    assert v.reasons[0].startswith("password.empty could not read all it needs: Not fully reviewed")
    # a warning about the image itself (not about what was read) still leaves it ready with warnings
    assert verdict_of(CLEAN + [r("boot.serial-console", "warn", "low")]).outcome == "ready with warnings"
