"""infra/scripts/test_results.py: a step that passed is not run again while its inputs are as
they were, and is run again when anything it reads changed."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "infra" / "scripts" / "test_results.py"


@pytest.fixture
def results(tmp_path, monkeypatch):
    """The module, pointed at a fresh git repository in tmp_path."""
    spec = importlib.util.spec_from_file_location("test_results", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "test_results", module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / ".gitignore").write_text("/target\n")
    (repo / "a.rs").write_text("fn main() {}\n")
    (repo / "template.yaml").write_text("Resources: {}\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    monkeypatch.setattr(module, "ROOT", repo)
    monkeypatch.setattr(module, "RESULTS", repo / "target" / "test-results")
    monkeypatch.setattr(module, "PASSED", repo / "target" / "test-results" / "passed")
    monkeypatch.delenv("VBM_TEST_REUSE", raising=False)
    return module, repo


def counting_step(repo: Path, status: int = 0) -> list[str]:
    """A step that appends a line to runs.txt (outside the tree) each time it runs."""
    log = repo.parent / "runs.txt"
    return [sys.executable, "-c",
            f"open({str(log)!r}, 'a').write('run\\n'); raise SystemExit({status})"]


def runs(repo: Path) -> int:
    log = repo.parent / "runs.txt"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_a_passed_step_is_not_run_again_with_the_same_tree(results):
    module, repo = results
    assert module.run_step("infra-tests", counting_step(repo)) == 0
    assert module.run_step("infra-tests", counting_step(repo)) == 0
    assert runs(repo) == 1


def test_a_change_anywhere_in_the_tree_runs_the_step_again(results):
    module, repo = results
    module.run_step("clients", counting_step(repo))
    (repo / "a.rs").write_text("fn main() { println!(); }\n")
    module.run_step("clients", counting_step(repo))
    (repo / "new-untracked.md").write_text("a file git does not track yet\n")
    module.run_step("clients", counting_step(repo))
    assert runs(repo) == 3


def test_a_failed_step_is_run_again(results):
    module, repo = results
    assert module.run_step("api-fuzz", counting_step(repo, status=3)) == 3
    assert module.run_step("api-fuzz", counting_step(repo, status=3)) == 3
    assert runs(repo) == 2


def test_reuse_off_runs_every_time(results, monkeypatch):
    module, repo = results
    monkeypatch.setenv("VBM_TEST_REUSE", "0")
    module.run_step("infra-tests", counting_step(repo))
    module.run_step("infra-tests", counting_step(repo))
    assert runs(repo) == 2


def test_a_steering_variable_is_part_of_the_key(results, monkeypatch):
    module, repo = results
    module.run_step("api-fuzz", counting_step(repo))
    monkeypatch.setenv("API_FUZZ_SEED", "42")
    module.run_step("api-fuzz", counting_step(repo))
    assert runs(repo) == 2


def test_the_run_time_inputs_of_rust_tests_leave_out_rust_sources(results):
    """A Rust source reaches a test only through its binary, which cargo writes again."""
    module, repo = results
    not_rust = lambda name: not name.endswith(".rs")  # noqa: E731
    before = module.tree_digest(not_rust)
    (repo / "a.rs").write_text("fn main() { println!(); }\n")
    assert module.tree_digest(not_rust) == before
    (repo / "template.yaml").write_text("Resources: {Table: {}}\n")
    assert module.tree_digest(not_rust) != before
