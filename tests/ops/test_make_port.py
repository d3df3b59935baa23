"""`make demo` and `make serve` listen on the port given as PORT (8000 unless told)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def planned(*args: str) -> str:
    """The commands make would run (`make -n`), without running them."""
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    return subprocess.run(["make", "-n", *args], capture_output=True, text=True, cwd=ROOT, check=True).stdout


@pytest.mark.parametrize("target", ["demo", "serve"])
def test_it_serves_on_the_port_given(target):
    commands = planned(target, "PORT=8001")
    assert "serve --host 127.0.0.1 --port 8001" in commands
    assert ":8000" not in commands


def test_the_demo_names_the_port_it_listens_on():
    assert "http://127.0.0.1:8001/admin/" in planned("demo", "PORT=8001")
    assert "--port 8000" in planned("serve")
