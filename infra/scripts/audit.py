#!/usr/bin/env python3
"""Dependency audit, offline: every crates.io package in Cargo.lock against a snapshot of
RustSec's advisory database (a copy of its `crates/` folder, ../shared/advisory-db beside the
clone). Exits 1 on an advisory that applies and is not in the allowlist, or on an allowlist
entry that no longer applies (so the list cannot go stale).

    infra/scripts/audit.py [--db DIR] [--lock Cargo.lock] [--allow infra/audit-allowlist.toml]

(--db defaults to $VBM_ADVISORY_DB, else ../shared/advisory-db.)

An advisory applies to a locked version unless it is withdrawn, or the version matches one of
its `patched` or `unaffected` requirements (Cargo's semver requirement syntax, pre-release rule
included). Informational advisories (unmaintained, unsound, notice) count too: each needs a
fix or an allowlist entry with its reason. Standard library only (tomllib, Python 3.11+).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"
# crates.io's sparse index names the same registry.
CRATES_IO_SPARSE = "sparse+https://index.crates.io/"


# ---------------------------------------------------------------- semver


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    pre: tuple = ()  # pre-release identifiers: ints and strings

    @staticmethod
    def parse(text: str) -> "Version":
        m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?", text.strip())
        if not m:
            raise ValueError(f"not a semver version: {text!r}")
        pre = tuple(int(p) if p.isdigit() else p for p in m.group(4).split(".")) if m.group(4) else ()
        return Version(int(m.group(1)), int(m.group(2)), int(m.group(3)), pre)

    def key(self):
        # A release sorts after its pre-releases; numeric identifiers before alphanumeric ones.
        pre = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.pre)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, pre)

    def __lt__(self, other):
        return self.key() < other.key()

    def __le__(self, other):
        return self.key() <= other.key()


def _cmp(op: str, v: Version, bound: Version) -> bool:
    a, b = v.key(), bound.key()
    return {"=": a == b, ">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


def _comparator(text: str) -> tuple[list[tuple[str, Version]], Version | None]:
    """One comparator as (op, version) bounds, as Cargo reads it, and the version written in
    it when that had a pre-release (for the pre-release rule)."""
    m = re.fullmatch(r"\s*(=|>=|<=|>|<|~|\^)?\s*([0-9*xX]+)(?:\.([0-9*xX]+))?(?:\.([0-9*xX]+))?(-[0-9A-Za-z.-]+)?\s*", text)
    if not m:
        raise ValueError(f"not a version requirement: {text!r}")
    op = m.group(1) or "^"
    parts = [m.group(2), m.group(3), m.group(4)]
    wild = [p is None or p in ("*", "x", "X") for p in parts]
    if wild[0]:
        return [], None
    major = int(parts[0])
    minor = None if wild[1] else int(parts[1])
    patch = None if wild[1] or wild[2] else int(parts[2])
    if m.group(5):
        if patch is None:
            raise ValueError(f"pre-release without a full version: {text!r}")
        full = Version.parse(f"{major}.{minor}.{patch}{m.group(5)}")
    else:
        full = None
    if any(wild) and op == "^" and m.group(1) is None and ("*" in text or "x" in text.lower()):
        op = "="  # `1.*` / `1.2.*`: a wildcard means the same as `=1` / `=1.2`
    lo = full or Version(major, minor or 0, patch or 0)

    def v(a, b=0, c=0):
        return Version(a, b, c)

    if op == "=":
        if patch is not None:
            return [("=", lo)], full
        if minor is not None:
            return [(">=", lo), ("<", v(major, minor + 1))], None
        return [(">=", lo), ("<", v(major + 1))], None
    if op == ">":
        if patch is not None:
            return [(">", lo)], full
        if minor is not None:
            return [(">=", v(major, minor + 1))], None
        return [(">=", v(major + 1))], None
    if op == ">=":
        return [(">=", lo)], full
    if op == "<":
        return [("<", lo)], full
    if op == "<=":
        if patch is not None:
            return [("<=", lo)], full
        if minor is not None:
            return [("<", v(major, minor + 1))], None
        return [("<", v(major + 1))], None
    if op == "~":
        if minor is None:
            return [(">=", lo), ("<", v(major + 1))], None
        return [(">=", lo), ("<", v(major, minor + 1))], full
    # caret
    if major > 0 or minor is None:
        return [(">=", lo), ("<", v(major + 1))], full
    if minor > 0 or patch is None:
        return [(">=", lo), ("<", v(0, minor + 1))], full
    return [(">=", lo), ("<", v(0, 0, patch + 1))], full


def matches(requirement: str, version: Version) -> bool:
    """Whether `version` satisfies a comma-separated requirement (`>= 1.5.1, < 1.6.0`), with
    Cargo's rule that a pre-release matches only a requirement naming a pre-release of the
    same major.minor.patch."""
    bounds, pres = [], []
    for part in requirement.split(","):
        if not part.strip():
            continue
        b, pre = _comparator(part)
        bounds += b
        if pre is not None:
            pres.append(pre)
    if not all(_cmp(op, version, bound) for op, bound in bounds):
        return False
    if version.pre:
        return any((p.major, p.minor, p.patch) == (version.major, version.minor, version.patch) for p in pres)
    return True


# ---------------------------------------------------------------- advisories and the lock file


@dataclass
class Advisory:
    id: str
    package: str
    title: str
    informational: str | None
    withdrawn: str | None
    patched: list[str]
    unaffected: list[str]

    def applies_to(self, version: Version) -> bool:
        if self.withdrawn:
            return False
        return not any(matches(r, version) for r in self.patched + self.unaffected)


def parse_advisory(text: str, origin: str = "") -> Advisory:
    m = re.match(r"\s*```toml\n(.*?)\n```\s*\n(.*)", text, re.S)
    if not m:
        raise ValueError(f"{origin}: no TOML front matter")
    meta = tomllib.loads(m.group(1))
    adv, versions = meta["advisory"], meta.get("versions", {})
    title = next((line[2:].strip() for line in m.group(2).splitlines() if line.startswith("# ")), "")
    return Advisory(
        id=adv["id"], package=adv["package"], title=title,
        informational=adv.get("informational"), withdrawn=adv.get("withdrawn"),
        patched=list(versions.get("patched", [])), unaffected=list(versions.get("unaffected", [])),
    )


def load_advisories(db: Path) -> dict[str, list[Advisory]]:
    crates = db / "crates" if (db / "crates").is_dir() else db
    by_package: dict[str, list[Advisory]] = {}
    count = 0
    for path in sorted(crates.glob("*/RUSTSEC-*.md")):
        adv = parse_advisory(path.read_text(encoding="utf-8"), str(path))
        by_package.setdefault(adv.package, []).append(adv)
        count += 1
    if count == 0:
        raise SystemExit(f"audit: no advisories under {crates}")
    return by_package


def locked_packages(lock: Path) -> list[tuple[str, Version]]:
    """(name, version) of every crates.io package in Cargo.lock (workspace and git packages
    are not on crates.io, whatever their names)."""
    data = tomllib.loads(lock.read_text(encoding="utf-8"))
    return [
        (p["name"], Version.parse(p["version"]))
        for p in data.get("package", [])
        if p.get("source") in (CRATES_IO, CRATES_IO_SPARSE)
    ]


def load_allowlist(path: Path) -> dict[tuple[str, str], str]:
    """(advisory id, package) -> reason. Every entry must give a reason."""
    if not path.exists():
        return {}
    entries = tomllib.loads(path.read_text(encoding="utf-8")).get("allow", [])
    out = {}
    for e in entries:
        reason = str(e.get("reason", "")).strip()
        if len(reason) < 20:
            raise SystemExit(f"audit: {path}: {e.get('id')} needs a reason (a sentence, not a word)")
        out[(e["id"], e["package"])] = reason
    return out


@dataclass
class Finding:
    advisory: Advisory
    version: Version

    @property
    def key(self):
        return (self.advisory.id, self.advisory.package)

    def line(self) -> str:
        v = self.version
        kind = self.advisory.informational or "vulnerability"
        fix = ", ".join(self.advisory.patched) or "no patched version"
        return (f"{self.advisory.id} {self.advisory.package} {v.major}.{v.minor}.{v.patch}"
                f"{'-' + '.'.join(map(str, v.pre)) if v.pre else ''} ({kind}): {self.advisory.title} [patched: {fix}]")


def audit(db: Path, lock: Path) -> list[Finding]:
    advisories = load_advisories(db)
    found = []
    for name, version in locked_packages(lock):
        for adv in advisories.get(name, []):
            if adv.applies_to(version):
                found.append(Finding(adv, version))
    return sorted(found, key=lambda f: (f.advisory.package, f.advisory.id))


def check(db: Path, lock: Path, allow: Path) -> tuple[list[Finding], list[tuple[str, str]], list[Finding]]:
    """(unlisted findings, stale allowlist entries, allowed findings)."""
    found = audit(db, lock)
    allowed = load_allowlist(allow)
    unlisted = [f for f in found if f.key not in allowed]
    stale = sorted(set(allowed) - {f.key for f in found})
    return unlisted, stale, [f for f in found if f.key in allowed]


def default_db() -> Path:
    """../shared/advisory-db beside the clone (where CI has it), or VBM_ADVISORY_DB."""
    return Path(os.environ.get("VBM_ADVISORY_DB") or ROOT.parent / "shared" / "advisory-db")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, default=default_db())
    ap.add_argument("--lock", type=Path, default=ROOT / "Cargo.lock")
    ap.add_argument("--allow", type=Path, default=ROOT / "infra" / "audit-allowlist.toml")
    args = ap.parse_args(argv)
    unlisted, stale, allowed = check(args.db, args.lock, args.allow)
    for f in allowed:
        print(f"allowed: {f.line()}")
    for f in unlisted:
        print(f"ADVISORY: {f.line()}")
    for adv_id, package in stale:
        print(f"STALE allowlist entry (no longer applies): {adv_id} {package}")
    n = len(locked_packages(args.lock))
    print(f"audit: {n} crates.io packages, {len(allowed)} allowed, {len(unlisted)} unlisted, {len(stale)} stale")
    return 1 if unlisted or stale else 0


if __name__ == "__main__":
    sys.exit(main())
