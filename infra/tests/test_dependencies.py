"""Every dependency a crate declares is used by it: an unused one still compiles (and, for a
normal dependency, may still link) into every build of that crate."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Declared for what they switch on, not for a path the code names.
USED_WITHOUT_A_PATH: dict[tuple[str, str], str] = {
}


def members() -> list[Path]:
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]
    found: list[Path] = []
    for pattern in workspace["members"]:
        found += [p for p in sorted(ROOT.glob(pattern)) if (p / "Cargo.toml").is_file()]
    return found


def sources(crate: Path, dirs: list[str]) -> str:
    text = []
    for name in dirs:
        path = crate / name
        if path.is_file():
            text.append(path.read_text())
        elif path.is_dir():
            text += [f.read_text() for f in sorted(path.rglob("*.rs"))]
    return "\n".join(text)


def unused() -> list[str]:
    found = []
    for crate in members():
        manifest = tomllib.loads((crate / "Cargo.toml").read_text())
        rel = crate.relative_to(ROOT).as_posix()
        for section, dirs in (
            ("dependencies", ["src", "build.rs"]),
            ("dev-dependencies", ["src", "tests", "benches", "examples"]),
            ("build-dependencies", ["build.rs"]),
        ):
            code = sources(crate, dirs)
            for name in manifest.get(section, {}):
                ident = name.replace("-", "_")
                if (rel, name) in USED_WITHOUT_A_PATH:
                    continue
                if re.search(rf"\b{re.escape(ident)}\b", code):
                    continue
                if section == "dependencies" and re.search(
                    rf"\b{re.escape(ident)}\b", sources(crate, ["tests", "benches"])
                ):
                    found.append(f"{rel}: [{section}] {name} (only its tests use it: a dev-dependency)")
                else:
                    found.append(f"{rel}: [{section}] {name}")
    return found


def test_every_declared_dependency_is_used() -> None:
    assert unused() == [], "declared but never named in the crate's code"


def test_the_exceptions_are_still_declared() -> None:
    for rel, name in USED_WITHOUT_A_PATH:
        manifest = tomllib.loads((ROOT / rel / "Cargo.toml").read_text())
        declared = {**manifest.get("dependencies", {}), **manifest.get("dev-dependencies", {})}
        assert name in declared, f"{rel} no longer declares {name}: drop its exception"


def test_no_function_depends_on_another() -> None:
    """Functions share libraries (`shared/*`), never each other: a function crate in another's
    normal dependencies would put its code, and its features, into that Lambda binary."""
    functions = {
        tomllib.loads((p / "Cargo.toml").read_text())["package"]["name"]
        for p in sorted((ROOT / "functions").iterdir())
        if (p / "Cargo.toml").is_file()
    }
    found = []
    for crate in sorted((ROOT / "functions").iterdir()):
        if not (crate / "Cargo.toml").is_file():
            continue
        manifest = tomllib.loads((crate / "Cargo.toml").read_text())
        for name in manifest.get("dependencies", {}):
            if name in functions:
                found.append(f"{crate.name} depends on {name}")
    assert functions, "no function crates found"
    assert found == []
