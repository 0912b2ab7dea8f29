#!/usr/bin/env python3
"""Runs `make test`'s steps, and skips a step whose inputs are as they were at its last pass.

    test_results.py rust [ARGS...]        every Rust test binary of the workspace
    test_results.py step NAME -- CMD...   CMD, as the step NAME

`rust` reads the test binaries from `cargo test --workspace --no-run` (the build
`infra/scripts/test-rust.sh` makes) and runs them in lanes (VBM_TEST_LANES, default 2), each
lane on its own serialized emulator (infra/moto/serial_moto.py): a lane takes the next binary,
longest first by the last run's times, so the lanes end together. A binary runs as `cargo test`
runs it: in its package's directory, with `CARGO_MANIFEST_DIR`. Its output is printed whole
when it ends; every binary runs even when one fails, and the failures are listed at the end.

A test binary that passed is not run again while its inputs are unchanged: the binary itself
(cargo writes it again when anything compiled into it changes), its package's own programs
(`CARGO_BIN_EXE_*`), every file of the tree other than Rust sources (what the tests read at run
time: template.yaml, openapi.yaml, docs, the emulator and its scripts), the tool versions, and
the variables that steer a run. A `step` is keyed by the whole tree instead. The records are in
target/test-results/ (`cargo clean` forgets them); VBM_TEST_REUSE=0 runs everything. ARGS
(a test name filter, say) are passed to every binary, and such a run is never recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "target" / "test-results"
PASSED = RESULTS / "passed"
DURATIONS = RESULTS / "durations.json"
# Variables that change what a run does or checks.
STEERING = ("CI", "API_FUZZ_EXAMPLES", "API_FUZZ_PHASES", "API_FUZZ_SEED", "API_FUZZ_SPEC",
            "PROPTEST_CASES", "RUST_TEST_THREADS", "VBM_DOCS_CHECK")


def reuse_on() -> bool:
    return os.environ.get("VBM_TEST_REUSE", "1") != "0"


def tool_versions() -> str:
    def version(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stdout.strip()
        except OSError:
            return f"{cmd[0]}: none"

    steering = [f"{name}={os.environ.get(name, '')}" for name in STEERING]
    return "\n".join([version("rustc", "-V"), version(sys.executable, "--version"),
                      version("node", "--version"), *steering])


def tree_digest(include) -> str:
    """The paths and contents of the tree's files (tracked, and untracked but not ignored)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout
    digest = hashlib.sha256()
    for name in sorted({n for n in listed.decode().split("\0") if n and include(n)}):
        path = ROOT / name
        if not path.is_file():  # deleted in the working tree
            continue
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def key_of(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def passed_before(key: str) -> bool:
    return reuse_on() and (PASSED / key).exists()


def record_pass(key: str) -> None:
    PASSED.mkdir(parents=True, exist_ok=True)
    (PASSED / key).write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))


def file_stamp(path: str) -> str:
    st = os.stat(path)
    return f"{path} {st.st_size} {st.st_mtime_ns}"


# ---- step ---------------------------------------------------------------------------------

def run_step(name: str, command: list[str]) -> int:
    key = key_of("step", name, " ".join(command), tree_digest(lambda _: True), tool_versions())
    if passed_before(key):
        print(f"==== {name}: passed before with this tree, not run again (VBM_TEST_REUSE=0 runs it)",
              flush=True)
        return 0
    status = subprocess.run(command, cwd=ROOT).returncode
    if status == 0:
        record_pass(key)
    return status


# ---- rust ---------------------------------------------------------------------------------

@dataclass
class Binary:
    exe: str
    package: str
    manifest_dir: str
    source: str
    key: str = ""

    @property
    def timing_name(self) -> str:
        """How durations.json names the binary (stable across builds)."""
        return self.source + " " + self.package.split("#")[0]


@dataclass
class Outcome:
    binary: Binary
    status: int
    seconds: float
    output: str = field(repr=False, default="")


def test_binaries() -> tuple[list[Binary], dict[str, list[str]]]:
    """The workspace's test executables, and each package's programs."""
    out = subprocess.run(
        ["cargo", "test", "--workspace", "--no-run", "--message-format=json-render-diagnostics"],
        cwd=ROOT, stdout=subprocess.PIPE, check=True, text=True).stdout
    binaries, programs = [], {}
    for line in out.splitlines():
        message = json.loads(line)
        if message.get("reason") != "compiler-artifact" or not message.get("executable"):
            continue
        package = message["package_id"]
        if message["profile"]["test"]:
            binaries.append(Binary(
                exe=message["executable"], package=package,
                manifest_dir=str(Path(message["manifest_path"]).parent),
                source=os.path.relpath(message["target"]["src_path"],
                                       Path(message["manifest_path"]).parent)))
        else:
            programs.setdefault(package, []).append(message["executable"])
    return binaries, programs


class Emulator:
    """A serialized moto server on a free port, for one lane."""

    def __init__(self, lane: int):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        self.log = RESULTS / f"moto-lane-{lane}.log"
        stats = os.environ.get("MOTO_STATS")
        command = [str(ROOT / ".venv/bin/python"), str(ROOT / "infra/moto/serial_moto.py"),
                   "--host", "127.0.0.1", "--port", str(port)]
        if stats:
            command += ["--stats", f"{stats}.lane-{lane}"]
        self.process = subprocess.Popen(command, stdout=self.log.open("w"),
                                        stderr=subprocess.STDOUT)
        for _ in range(300):
            if self.process.poll() is not None:
                break
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        sys.exit(f"test_results: the emulator did not start; its log:\n{self.log.read_text()}")

    def env(self) -> dict[str, str]:
        env = dict(os.environ, AWS_ENDPOINT_URL=self.endpoint, AWS_ACCESS_KEY_ID="test",
                   AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1",
                   AWS_DEFAULT_REGION="us-east-1")
        env.pop("AWS_PROFILE", None)
        env.pop("AWS_SESSION_TOKEN", None)
        return env

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def run_rust(args: list[str]) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    binaries, programs = test_binaries()
    recording = not args
    runtime_inputs = tree_digest(lambda name: not name.endswith(".rs"))
    versions = tool_versions()
    for binary in binaries:
        own_programs = [file_stamp(p) for p in sorted(programs.get(binary.package, []))]
        binary.key = key_of("rust", file_stamp(binary.exe), *own_programs, runtime_inputs,
                            versions)
    reused = [b for b in binaries if recording and passed_before(b.key)]
    todo = [b for b in binaries if b not in reused]
    try:
        durations = json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        durations = {}
    # Longest first by the last run; before any run, integration tests first, larger binaries
    # (more of the stack linked in) before smaller ones.
    def expected(b: Binary) -> float:
        known = durations.get(b.timing_name)
        if known is not None:
            return known
        size = os.path.getsize(b.exe) / 1e9
        return 1e6 + size if b.source.startswith("tests/") else size

    todo.sort(key=expected, reverse=True)
    print(f"test_results: {len(binaries)} test binaries; {len(reused)} passed before with these "
          f"inputs and are not run again; {len(todo)} to run", flush=True)

    lanes = max(1, int(os.environ.get("VBM_TEST_LANES", "2")))
    lock = threading.Lock()
    outcomes: list[Outcome] = []

    def lane(number: int) -> None:
        emulator = Emulator(number)
        try:
            while True:
                with lock:
                    if not todo:
                        return
                    binary = todo.pop(0)
                start = time.monotonic()
                env = emulator.env()
                env["CARGO_MANIFEST_DIR"] = binary.manifest_dir
                done = subprocess.run([binary.exe, *args], cwd=binary.manifest_dir, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, errors="replace")
                outcome = Outcome(binary, done.returncode, time.monotonic() - start, done.stdout)
                with lock:
                    outcomes.append(outcome)
                    exe = os.path.relpath(binary.exe, ROOT)
                    print(f"     Running {binary.source} ({exe}) in lane {number}, "
                          f"{outcome.seconds:.1f} s, exit status {outcome.status}", flush=True)
                    sys.stdout.write(outcome.output)
                    sys.stdout.flush()
        finally:
            emulator.stop()

    threads = [threading.Thread(target=lane, args=(n,)) for n in range(1, min(lanes, len(todo)) + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    failed = [o for o in outcomes if o.status != 0]
    if len(outcomes) != len(binaries) - len(reused):
        print("test_results: a lane stopped before its binaries ran", flush=True)
        return 1
    # A filtered run's times say nothing of the binaries' length: neither they nor its passes
    # are recorded.
    if recording:
        for outcome in outcomes:
            durations[outcome.binary.timing_name] = round(outcome.seconds, 1)
            if outcome.status == 0:
                record_pass(outcome.binary.key)
        DURATIONS.write_text(json.dumps(durations, indent=1, sort_keys=True) + "\n")
    for outcome in failed:
        print(f"test_results: FAILED {outcome.binary.source} "
              f"({os.path.relpath(outcome.binary.exe, ROOT)}), exit status {outcome.status}")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["rust"]:
        return run_rust(argv[1:])
    if len(argv) >= 4 and argv[0] == "step" and argv[2] == "--":
        return run_step(argv[1], argv[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    if shutil.which("git") is None:
        sys.exit("test_results: needs git")
    sys.exit(main(sys.argv[1:]))
