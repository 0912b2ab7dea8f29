#!/usr/bin/env bash
# Makes the toolchain rust-toolchain.toml pins available without a download: when rustup does
# not know it by that name but the machine's stable toolchain is that very version, the name is
# made an alias of it (a symlink in rustup's toolchains folder, as rustup keeps them; `rustup
# toolchain link` refuses names that look like versions). Anything else is left to rustup, which
# says what is missing. Idempotent; `make test`, `make dev` and .ci/run call it first.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
command -v rustup >/dev/null 2>&1 || exit 0
want="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$ROOT/rust-toolchain.toml")"
[[ -n "$want" ]] || exit 0
if rustup toolchain list | grep "^$want-" >/dev/null; then
    exit 0
fi
stable="$(rustc +stable --version 2>/dev/null | awk '{print $2}')" || exit 0
if [[ "$stable" == "$want" ]]; then
    sysroot="$(rustc +stable --print sysroot)"
    host="$(rustc +stable -vV | sed -n 's/^host: //p')"
    ln -sfn "$sysroot" "${RUSTUP_HOME:-$HOME/.rustup}/toolchains/$want-$host"
    echo "toolchain: $want-$host is the installed stable ($sysroot)" >&2
fi
