"""Package version ordering as dpkg, rpm and apk define it (pure; no package manager needed)."""

from __future__ import annotations

import re


# -- dpkg ------------------------------------------------------------------------------
def _dpkg_order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _dpkg_part(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _dpkg_order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = _dpkg_order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return -1 if first_diff < 0 else 1
    return 0


def _dpkg_split(v: str) -> tuple[int, str, str]:
    v = v.strip()
    epoch = 0
    if ":" in v:
        e, _, v = v.partition(":")
        epoch = int(e) if e.isdigit() else 0
    upstream, sep, revision = v.rpartition("-")
    if not sep:
        upstream, revision = v, ""
    return epoch, upstream, revision


def dpkg_compare(a: str, b: str) -> int:
    ea, ua, ra = _dpkg_split(a)
    eb, ub, rb = _dpkg_split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _dpkg_part(ua, ub) or _dpkg_part(ra, rb)


# -- rpm -------------------------------------------------------------------------------
_RPM_SEG = re.compile(r"(\d+|[A-Za-z]+|~|\^)")


def rpmvercmp(a: str, b: str) -> int:
    """rpm's segment comparison: digits beat letters, ~ sorts first, ^ after the base."""
    if a == b:
        return 0
    i = j = 0
    while True:
        while i < len(a) and not (a[i].isalnum() or a[i] in "~^"):
            i += 1
        while j < len(b) and not (b[j].isalnum() or b[j] in "~^"):
            j += 1
        # tilde: sorts before anything, even the end
        if (i < len(a) and a[i] == "~") or (j < len(b) and b[j] == "~"):
            if not (i < len(a) and a[i] == "~"):
                return 1
            if not (j < len(b) and b[j] == "~"):
                return -1
            i += 1
            j += 1
            continue
        # caret: sorts after the end of the other, before anything else
        if (i < len(a) and a[i] == "^") or (j < len(b) and b[j] == "^"):
            if i >= len(a):
                return -1
            if j >= len(b):
                return 1
            if a[i] != "^":
                return 1
            if b[j] != "^":
                return -1
            i += 1
            j += 1
            continue
        if i >= len(a) or j >= len(b):
            break
        ma = _RPM_SEG.match(a, i)
        mb = _RPM_SEG.match(b, j)
        sa, sb = ma.group(0), mb.group(0)
        a_num, b_num = sa.isdigit(), sb.isdigit()
        if a_num != b_num:
            return 1 if a_num else -1
        if a_num:
            sa, sb = sa.lstrip("0"), sb.lstrip("0")
            if len(sa) != len(sb):
                return 1 if len(sa) > len(sb) else -1
        if sa != sb:
            return 1 if sa > sb else -1
        i, j = ma.end(), mb.end()
    if i >= len(a) and j >= len(b):
        return 0
    return -1 if i >= len(a) else 1


def _rpm_split(evr: str) -> tuple[int, str, str]:
    epoch = 0
    if ":" in evr:
        e, _, evr = evr.partition(":")
        epoch = int(e) if e.isdigit() else 0
    version, sep, release = evr.rpartition("-")
    if not sep:
        version, release = evr, ""
    return epoch, version, release


def rpm_compare(a: str, b: str) -> int:
    """Compare [epoch:]version[-release]; a missing release on either side is not compared."""
    ea, va, ra = _rpm_split(a)
    eb, vb, rb = _rpm_split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    c = rpmvercmp(va, vb)
    if c or not ra or not rb:
        return c
    return rpmvercmp(ra, rb)


# -- apk -------------------------------------------------------------------------------
_APK_SUFFIXES = {"alpha": -4, "beta": -3, "pre": -2, "rc": -1, "": 0, "cvs": 1, "svn": 2, "git": 3, "hg": 4, "p": 5}
_APK = re.compile(r"^(?P<nums>\d+(?:\.\d+)*)(?P<letter>[a-z]?)(?P<suffixes>(?:_[a-z]+\d*)*)"
                  r"(?:~(?P<hash>[0-9a-f]+))?(?:-r(?P<rel>\d+))?$")


def _apk_key(v: str):
    m = _APK.match(v.strip())
    if not m:
        return None
    nums = [int(n) for n in m.group("nums").split(".")]
    suffixes = []
    for s in re.findall(r"_([a-z]+)(\d*)", m.group("suffixes") or ""):
        suffixes.append((_APK_SUFFIXES.get(s[0], 0), int(s[1] or 0)))
    return nums, m.group("letter") or "", suffixes, int(m.group("rel") or 0)


def apk_compare(a: str, b: str) -> int:
    ka, kb = _apk_key(a), _apk_key(b)
    if ka is None or kb is None:
        return (a > b) - (a < b)
    na, nb = ka[0], kb[0]
    for x, y in zip(na, nb):
        if x != y:
            return -1 if x < y else 1
    if len(na) != len(nb):
        return -1 if len(na) < len(nb) else 1
    if ka[1] != kb[1]:
        return -1 if ka[1] < kb[1] else 1
    sa, sb = ka[2], kb[2]
    for x, y in zip(sa, sb):
        if x != y:
            return -1 if x < y else 1
    if len(sa) != len(sb):  # a further suffix: a pre-release one sorts before, a post one after
        longer, sign = (sa, 1) if len(sa) > len(sb) else (sb, -1)
        nxt = longer[min(len(sa), len(sb))][0]
        return sign if nxt > 0 else -sign
    if ka[3] != kb[3]:
        return -1 if ka[3] < kb[3] else 1
    return 0


COMPARE = {"dpkg": dpkg_compare, "rpm": rpm_compare, "apk": apk_compare}
