"""docs/architecture.md's map says which shared crates each function uses and which store
modules build each item's key; both tables are checked against the code, so they cannot drift."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"


def table_after(marker: str) -> dict[str, set[str]]:
    text = DOC.read_text()
    start = text.index(f"<!-- architecture-map: {marker} -->")
    rows: dict[str, set[str]] = {}
    for line in text[start:].splitlines()[3:]:
        if not line.startswith("|"):
            break
        first, second = [c.strip() for c in line.strip("|").split("|")][:2]
        name = re.match(r"`([^`]+)`", first).group(1)
        rows[name] = {c.strip().strip("`") for c in second.split(",")}
    return rows


def shared_crates() -> dict[str, str]:
    """Package name -> directory name under shared/."""
    return {
        tomllib.loads(p.read_text())["package"]["name"]: p.parent.name
        for p in sorted((ROOT / "shared").glob("*/Cargo.toml"))
    }


def test_each_function_uses_the_crates_the_map_names() -> None:
    shared = shared_crates()
    actual = {}
    for manifest in sorted((ROOT / "functions").glob("*/Cargo.toml")):
        deps = tomllib.loads(manifest.read_text()).get("dependencies", {})
        actual[manifest.parent.name] = {shared[d] for d in deps if d in shared}
    assert table_after("functions") == actual


def test_each_item_is_built_where_the_map_says() -> None:
    keys = (ROOT / "shared/store/src/keys.rs").read_text()
    # Each item's key builder: `pub fn conversation(..) -> String { format!("CONV#{}", ..) }`.
    # The prefix may be a constant of keys.rs: `format!("{CONVERSATION_PREFIX}{}", ..)`.
    constants = dict(re.findall(r'pub const (\w+): &str = "([A-Z_]+#)";', keys))
    builders = [
        (name, constants.get(prefix.strip("{}"), prefix))
        for name, prefix in re.findall(
            r'pub fn (\w+)\([^)]*\) -> String \{\s*format!\("([A-Z_]+#|\{[A-Z_]+\})', keys
        )
    ]
    modules = {
        p.name: p.read_text()
        for p in sorted((ROOT / "shared/store/src").glob("*.rs"))
        if p.name != "keys.rs"
    }
    actual = {}
    for name, prefix in builders:
        if prefix == "BIZ#":
            continue  # the partition of nearly everything
        # Several builders may share a prefix (a chunk and a campaign's chunks): their union.
        actual.setdefault(prefix, set()).update(
            m for m, text in modules.items() if re.search(rf"keys::{name}\(", text)
        )
    documented = {re.match(r"[A-Z_]+#", item).group(0): mods for item, mods in table_after("items").items()}
    assert documented == actual
