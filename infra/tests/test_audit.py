"""The dependency audit (infra/scripts/audit.py): Cargo.lock against RustSec's advisory database
snapshot, offline. The real run must be clean (each applying advisory fixed or allowlisted with a
reason); the checker itself is tried on a small database of its own."""

from __future__ import annotations

import sys
import textwrap

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "infra" / "scripts"))

import audit  # noqa: E402
from audit import Version, matches  # noqa: E402


def test_cargo_lock_has_no_unlisted_advisory(capsys):
    db = audit.default_db()
    assert (db / "crates").is_dir(), f"RustSec's advisory database is expected at {db} (../shared/advisory-db)"
    assert len(audit.load_advisories(db)) > 500
    assert audit.main([]) == 0, capsys.readouterr().out


@pytest.mark.parametrize(
    "requirement, version, expected",
    [
        (">= 1.5.1, < 1.6.0", "1.5.1", True),
        (">= 1.5.1, < 1.6.0", "1.6.0", False),
        (">= 1.8.1", "1.54.1", True),
        ("< 0.3.0", "0.2.9", True),
        ("< 0.3", "0.3.0", False),
        ("<= 0.1.37", "0.1.37", True),
        ("<= 0.1", "0.1.99", True),
        ("<= 0.1", "0.2.0", False),
        ("> 1.2", "1.2.9", False),
        ("> 1.2", "1.3.0", True),
        ("^0.3.4", "0.3.9", True),
        ("^0.3.4", "0.4.0", False),
        ("^ 0.3.1", "0.3.1", True),
        ("^1.2", "1.9.0", True),
        ("^1.2", "2.0.0", False),
        ("^0.0.3", "0.0.4", False),
        ("0.54.2", "0.54.9", True),  # bare = caret
        ("0.54.2", "0.55.0", False),
        ("=0.2.1", "0.2.1", True),
        ("=0.2.1", "0.2.2", False),
        ("~1.2.3", "1.2.9", True),
        ("~1.2.3", "1.3.0", False),
        (">= 0.17", "0.17.14", True),
        (">= 0", "0.9.9", True),
        ("1.*", "1.7.0", True),
        ("1.*", "2.0.0", False),
        # Pre-releases sort before their release, and match only a requirement naming one.
        (">= 0.103.12, < 0.104.0-alpha.1", "0.103.16", True),
        (">= 0.103.12, < 0.104.0-alpha.1", "0.104.0", False),
        (">= 0.104.0-alpha.6", "0.104.0-alpha.7", True),
        (">= 0.104.0-alpha.6", "0.104.0-alpha.10", True),  # numeric, not text, order
        (">= 0.104.0-alpha.6", "0.104.0-alpha.5", False),
        (">= 0.9.0", "0.10.0-alpha.1", False),  # a pre-release needs a requirement naming one
        ("< 1.0.0-0", "0.9.9", True),
        (">= 0.10.0, < 1.0.0-0", "1.0.0", False),
    ],
)
def test_requirements_match_as_cargo_reads_them(requirement, version, expected):
    assert matches(requirement, Version.parse(version)) is expected


def test_version_order():
    order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0"]
    parsed = [Version.parse(v) for v in order]
    assert sorted(parsed, key=Version.key) == parsed
    with pytest.raises(ValueError):
        Version.parse("1.2")


def _advisory(db, package, adv_id, versions, extra=""):
    path = db / "crates" / package / f"{adv_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "```toml\n[advisory]\n"
        f'id = "{adv_id}"\npackage = "{package}"\ndate = "2026-01-01"\n{extra}\n\n'
        f"[versions]\n{versions}\n```\n\n# {package} does something bad\n"
    )


def _lock(path, packages):
    body = ['version = 4\n']
    for name, version, source in packages:
        body.append(f'[[package]]\nname = "{name}"\nversion = "{version}"\n')
        if source:
            body.append(f'source = "{source}"\n')
    path.write_text("\n".join(body))


@pytest.fixture
def small_db(tmp_path):
    db = tmp_path / "advisory-db"
    _advisory(db, "hyperish", "RUSTSEC-2099-0001", 'patched = [">= 1.4.2"]\nunaffected = ["< 1.0.0"]')
    _advisory(db, "fixedcrate", "RUSTSEC-2099-0002", 'patched = [">= 0.3.1, < 0.4.0", ">= 0.4.5"]')
    _advisory(db, "hyperish", "RUSTSEC-2099-0003", 'patched = []', extra='withdrawn = "2099-02-01"')
    _advisory(db, "oldcrate", "RUSTSEC-2099-0004", 'patched = []', extra='informational = "unmaintained"')
    # Same name as a workspace member: a local package is not the crates.io one.
    _advisory(db, "send", "RUSTSEC-2099-0005", 'patched = []')
    lock = tmp_path / "Cargo.lock"
    _lock(lock, [
        ("hyperish", "1.4.1", audit.CRATES_IO),       # affected by 0001 (0003 is withdrawn)
        ("fixedcrate", "0.3.7", audit.CRATES_IO),     # patched
        ("oldcrate", "2.0.0", audit.CRATES_IO),       # informational, no fix
        ("send", "0.1.0", None),                       # the workspace's own package
    ])
    return db, lock


def test_the_checker_finds_what_applies(small_db):
    db, lock = small_db
    found = audit.audit(db, lock)
    assert [(f.advisory.id, f.advisory.package) for f in found] == [
        ("RUSTSEC-2099-0001", "hyperish"),
        ("RUSTSEC-2099-0004", "oldcrate"),
    ]
    assert "does something bad" in found[0].line() and "(unmaintained)" in found[1].line()


def test_the_checker_fails_unless_allowlisted_with_a_reason(small_db, tmp_path, capsys):
    db, lock = small_db
    allow = tmp_path / "allow.toml"
    args = ["--db", str(db), "--lock", str(lock), "--allow", str(allow)]
    assert audit.main(args) == 1
    out = capsys.readouterr().out
    assert "ADVISORY: RUSTSEC-2099-0001 hyperish 1.4.1" in out and "RUSTSEC-2099-0002" not in out

    allow.write_text(textwrap.dedent("""\
        [[allow]]
        id = "RUSTSEC-2099-0001"
        package = "hyperish"
        reason = "Only the tests use it, never against untrusted input."
        [[allow]]
        id = "RUSTSEC-2099-0004"
        package = "oldcrate"
        reason = "Unmaintained but feature-complete; nothing to fix in it."
        """))
    assert audit.main(args) == 0, capsys.readouterr().out

    # The lock moved to a patched version: the entry is stale and must go.
    _lock(lock, [("hyperish", "1.4.2", audit.CRATES_IO), ("oldcrate", "2.0.0", audit.CRATES_IO)])
    assert audit.main(args) == 1
    assert "STALE allowlist entry (no longer applies): RUSTSEC-2099-0001 hyperish" in capsys.readouterr().out

    allow.write_text('[[allow]]\nid = "RUSTSEC-2099-0004"\npackage = "oldcrate"\nreason = "ok"\n')
    with pytest.raises(SystemExit, match="needs a reason"):
        audit.main(args)
