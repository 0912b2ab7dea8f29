"""Shared fixtures for the infra tests.

``moto_endpoint``: the emulator's URL. Uses ``AWS_ENDPOINT_URL`` when set (the
server started by infra/scripts/with-moto.sh); otherwise starts
infra/moto/serial_moto.py on a free port for the test session.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
sys.path.insert(0, str(ROOT / "infra" / "local"))

from cfn_yaml import load_template  # noqa: E402


@pytest.fixture(scope="session")
def source_template():
    """template.yaml as written (SAM), short tags in long form."""
    return load_template(TEMPLATE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen | None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"moto server exited early with status {proc.returncode}")
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server at {url} not ready after {timeout} s")


@pytest.fixture(scope="session")
def moto_endpoint():
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    os.environ.setdefault("AWS_REGION", "us-east-1")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    existing = os.environ.get("AWS_ENDPOINT_URL")
    if existing:
        _wait_ready(existing, None)
        yield existing
        return
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "infra/moto/serial_moto.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_ready(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
