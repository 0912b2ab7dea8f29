#!/usr/bin/env bash
# Build every Lambda function of template.yaml for Lambda arm64 (provided.al2023) into
#   target/lambda/<binary>/bootstrap.zip
# with `cargo lambda build --release --arm64 --output-format zip` run in each function's package
# directory (as `sam build` runs it), check each bootstrap is an aarch64 ELF executable within
# the 6 MB budget, and print a table of sizes and the build time.
#
#   infra/scripts/package.sh [--allow-missing | --tools-only]
#
# The binaries come from template.yaml (each function's BuildProperties.Binary), so the
# package and the template cannot drift apart. A binary the workspace does not have yet is an
# error (such a package cannot be deployed) unless --allow-missing is given, which builds
# what exists and names the rest. --tools-only installs the tools below and stops (what
# infra/scripts/sam.sh uses: `sam build` runs cargo-lambda itself).
#
# Tools: cargo-lambda (with zig, the cross linker) from PyPI into .venv-package, pinned in
# infra/requirements-package.txt (a stamp makes a second run instant), and the Rust target
# aarch64-unknown-linux-gnu through rustup. Nothing is installed system-wide.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv-package"
REQ="$ROOT/infra/requirements-package.txt"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"
TARGET=aarch64-unknown-linux-gnu

allow_missing=""
tools_only=""
for arg in "$@"; do
    case "$arg" in
        --allow-missing) allow_missing=1 ;;
        --tools-only) tools_only=1 ;;
        -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "package: unknown argument $arg" >&2; exit 2 ;;
    esac
done

cd "$ROOT"

# ---------------------------------------------------------------- tools
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/cargo-lambda" || ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
    echo "package: installing cargo-lambda (infra/requirements-package.txt) into $VENV" >&2
    started=$SECONDS
    [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
    echo "$want" > "$STAMP"
    echo "package: cargo-lambda ready in $((SECONDS - started)) s" >&2
fi
# cargo finds the `cargo-lambda` subcommand, and cargo-lambda finds zig (`python3 -m
# ziglang`), through this PATH.
export PATH="$VENV/bin:$PATH"

if command -v rustup >/dev/null; then
    if ! rustup target list --installed | grep -x "$TARGET" >/dev/null; then
        echo "package: rustup target add $TARGET" >&2
        rustup target add "$TARGET"
    fi
else
    echo "package: no rustup; assuming the $TARGET standard library is installed" >&2
fi

[[ -z "$tools_only" ]] || exit 0

# ---------------------------------------------------------------- what to build
mapfile -t wanted < <(
    sed -n 's/^[[:space:]]*Binary:[[:space:]]*\([A-Za-z0-9_-]*\)[[:space:]]*$/\1/p' template.yaml
)
if [[ ${#wanted[@]} -eq 0 ]]; then
    echo "package: no BuildProperties.Binary found in template.yaml" >&2
    exit 1
fi
# Each binary's package directory (relative to the root): where cargo-lambda runs, as `sam build`
# runs it with the function's CodeUri (test_template.py checks CodeUri is that directory).
declare -A dir_of=()
while read -r name dir; do
    dir_of[$name]="$dir"
done < <(
    cargo metadata --no-deps --format-version 1 | "$PYTHON" -c '
import json, os, sys
meta = json.load(sys.stdin)
for pkg in meta["packages"]:
    for target in pkg["targets"]:
        if "bin" in target["kind"]:
            print(target["name"], os.path.relpath(os.path.dirname(pkg["manifest_path"]), meta["workspace_root"]))
'
)
bins=()
missing=()
for name in "${wanted[@]}"; do
    if [[ -n "${dir_of[$name]:-}" ]]; then
        bins+=("$name")
    else
        missing+=("$name")
    fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ -z "$allow_missing" ]]; then
        echo "package: template.yaml needs binaries the workspace does not have: ${missing[*]}" >&2
        echo "package: (--allow-missing builds the others)" >&2
        exit 1
    fi
    echo "package: WARNING: not in the workspace yet, not built: ${missing[*]}" >&2
fi
if [[ ${#bins[@]} -eq 0 ]]; then
    echo "package: nothing to build" >&2
    exit 1
fi

# ---------------------------------------------------------------- build
# One cargo-lambda run per function, in its package's directory, exactly as `sam build` runs it:
# Cargo selects that package alone and resolves its own features. (Without a package selection
# at the root Cargo selects every workspace member, and the test and tooling crates' features,
# reqwest's own TLS provider and aws-config's HTTPS client, would end up in the Lambda binaries;
# several packages in one run would still share each other's features.)
# infra/tests/test_deploy_build.py checks what each of these resolves.
started=$(date +%s.%N)
for name in "${bins[@]}"; do
    dir="${dir_of[$name]}"
    echo "package: (cd $dir && cargo lambda build --release --arm64 --output-format zip --bin $name)" >&2
    (cd "$ROOT/$dir" && cargo lambda build --release --arm64 --output-format zip --bin "$name")
done
finished=$(date +%s.%N)

# ---------------------------------------------------------------- check and report
"$PYTHON" - "$started" "$finished" "${bins[@]}" <<'PY'
import struct, sys, zipfile
from pathlib import Path

elapsed, names = float(sys.argv[2]) - float(sys.argv[1]), sys.argv[3:]
rows, failures = [], []
for name in names:
    path = Path("target/lambda") / name / "bootstrap.zip"
    if not path.is_file():
        failures.append(f"{name}: {path} missing")
        continue
    with zipfile.ZipFile(path) as z:
        entries = z.infolist()
        if [e.filename for e in entries] != ["bootstrap"]:
            failures.append(f"{name}: zip holds {[e.filename for e in entries]}, not just bootstrap")
            continue
        info = entries[0]
        head = z.open(info).read(20)
    mode = info.external_attr >> 16
    # ELF magic, 64-bit, little-endian; e_machine 183 = EM_AARCH64; e_type 2/3 = EXEC/DYN.
    ok = head[:4] == b"\x7fELF" and head[4] == 2 and head[5] == 1
    e_type, e_machine = struct.unpack_from("<HH", head, 16) if ok else (0, 0)
    if not (ok and e_machine == 183 and e_type in (2, 3)):
        failures.append(f"{name}: bootstrap is not an aarch64 ELF executable")
    if not mode & 0o111:
        failures.append(f"{name}: bootstrap is not executable in the zip (mode {mode:o})")
    rows.append((name, path.stat().st_size, info.file_size))

def mib(n):
    return f"{n / 1048576:.2f} MiB"

# The size budget of an unzipped bootstrap (BENCHMARKS.md: MB = 10^6 bytes). Over it fails.
BUDGET = 6_000_000

print()
print(f"{'function':<10} {'bootstrap.zip':>14} {'bootstrap':>12} {'bootstrap':>10}  {'<= 6 MB':<7}  path")
for name, zipped, raw in rows:
    within = "yes" if raw <= BUDGET else "NO"
    print(f"{name:<10} {mib(zipped):>14} {mib(raw):>12} {raw / 1e6:>7.2f} MB  {within:<7}  target/lambda/{name}/bootstrap.zip")
    if raw > BUDGET:
        failures.append(f"{name}: bootstrap is {raw / 1e6:.2f} MB, over the 6 MB budget")
if rows:
    print(f"{'total':<10} {mib(sum(r[1] for r in rows)):>14} {mib(sum(r[2] for r in rows)):>12}")
print(f"\nbuild time: {elapsed:.0f} s (cargo lambda build, {len(names)} binaries, aarch64, release)")
if failures:
    print("\n".join(["", "package: FAILED:"] + failures), file=sys.stderr)
    sys.exit(1)
PY
