"""What each deployed Lambda binary links, as the deploy path resolves it.

`sam build` (BuildMethod rust-cargolambda) runs `cargo lambda build --release --arm64 --bin <Binary>`
with the function's CodeUri as working directory, and infra/scripts/package.sh does the same.
Cargo then selects the package of that directory (at the workspace root it would select every
member) and resolves the features of that selection only. Here `cargo tree` resolves the same
selection for Lambda's target, without a cross build, and the graph must hold the function's own
package alone, one TLS stack (rustls on ring) and no crate of the tests or tools.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from conftest import ROOT

TARGET = "aarch64-unknown-linux-gnu"

# TLS stacks beside rustls on ring (what the SDK clients and reqwest are given).
SECOND_TLS = {
    "aws-lc-rs", "aws-lc-sys", "aws-lc-fips-sys", "openssl", "openssl-sys", "native-tls",
    "hyper-tls", "tokio-native-tls", "boring", "boring-sys", "s2n-tls", "s2n-tls-sys",
}
# Test and benchmark crates from crates.io (the workspace's own tools and tests are found in
# `cargo metadata`, below).
DEV_ONLY_EXTERNAL = {"proptest", "criterion", "phonenumber", "serde_norway"}
# Workspace members that belong in no Lambda binary although they live in shared/.
DEV_ONLY_SHARED = {"vbm-testkit", "vbm-fuzz-checks"}


def deploy_graph(code_dir) -> tuple[list[str], set[str]]:
    """(root packages, every package name) of `cargo tree` run where the deploy path runs
    cargo, with its package selection (none given: the directory decides) and no dev edges."""
    proc = subprocess.run(
        ["cargo", "tree", "--locked", "-e", "normal,build,features", "--target", TARGET,
         "--prefix", "depth", "-f", "{p}"],
        cwd=code_dir, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return parse_tree(proc.stdout)


def parse_tree(text: str) -> tuple[list[str], set[str]]:
    roots, names = [], set()
    for line in text.splitlines():
        m = re.match(r"(\d+)(\S+) (v\d|feature )", line)
        if not m:
            continue
        depth, name = int(m.group(1)), m.group(2)
        names.add(name)
        if depth == 0 and m.group(3).startswith("v"):
            roots.append(name)
    return roots, names


def findings(binary: str, roots: list[str], names: set[str], dev_only: set[str]) -> list[str]:
    """What is wrong with one function's resolved graph (empty: nothing)."""
    found = []
    if roots != [binary]:
        found.append(f"selects {sorted(roots)} instead of the package {binary!r} alone")
    if tls := sorted(names & SECOND_TLS):
        found.append(f"a second TLS stack: {tls}")
    if dev := sorted(names & dev_only):
        found.append(f"crates of the tests or tools: {dev}")
    return found


@pytest.fixture(scope="module")
def dev_only():
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
    ).stdout)
    root = meta["workspace_root"] + "/"
    tools = {
        p["name"] for p in meta["packages"]
        if not p["manifest_path"].removeprefix(root).startswith(("shared/", "functions/"))
    }
    assert {"vbmctl", "vbm-dev"} <= tools, tools
    return tools | DEV_ONLY_SHARED | DEV_ONLY_EXTERNAL


def _functions(source_template):
    out = []
    for lid, res in source_template["Resources"].items():
        if res["Type"] == "AWS::Serverless::Function":
            out.append((lid, res["Metadata"]["BuildProperties"]["Binary"], res["Properties"]["CodeUri"]))
    assert len(out) == 9
    return out


def test_each_function_resolves_alone(source_template, dev_only):
    problems = {}
    for lid, binary, code_uri in _functions(source_template):
        roots, names = deploy_graph(ROOT / code_uri)
        assert "rustls" in names and "ring" in names, (lid, "no rustls on ring: is the tree empty?")
        if found := findings(binary, roots, names, dev_only):
            problems[lid] = found
    assert not problems, problems


def test_the_workspace_root_would_not_pass(dev_only):
    """The layout this replaces (CodeUri `.`, cargo at the workspace root) is caught."""
    roots, names = deploy_graph(ROOT)
    found = findings("send", roots, names, dev_only)
    assert len(found) == 3, found
    assert "aws-lc-rs" in found[1] and "vbmctl" in found[2], found


def test_package_script_builds_where_sam_does():
    """package.sh builds each binary from its package's directory, as SAM does, never all
    packages in one cargo invocation (which unifies their features)."""
    script = (ROOT / "infra/scripts/package.sh").read_text()
    assert re.search(r'cd "\$ROOT/\$dir" && cargo lambda build --release --arm64 --output-format zip --bin "\$name"', script)
    assert "--package" not in script


def test_findings_on_a_small_tree():
    tree = "\n".join([
        '0send v0.1.0 (/w/functions/send)',
        '1tokio feature "default"',
        '2tokio v1.0.0',
        '1rustls v0.23.0',
        '2aws-lc-rs v1.0.0',
        '1vbm-testkit v0.1.0 (/w/shared/testkit)',
        '',
        '0vbmctl v0.1.0 (/w/infra/vbmctl)',
    ])
    roots, names = parse_tree(tree)
    assert roots == ["send", "vbmctl"]
    assert {"tokio", "rustls", "aws-lc-rs", "vbm-testkit", "vbmctl"} <= names
    found = findings("send", roots, names, {"vbm-testkit", "vbmctl"})
    assert found == [
        "selects ['send', 'vbmctl'] instead of the package 'send' alone",
        "a second TLS stack: ['aws-lc-rs']",
        "crates of the tests or tools: ['vbm-testkit', 'vbmctl']",
    ]
    clean = parse_tree("0send v0.1.0 (/w)\n1rustls v0.23.0\n2ring v0.17.0\n")
    assert findings("send", *clean, {"vbmctl"}) == []
