"""The README's quick start: `make run` runs the demo workflow end to end.

The test runs the real Makefile target in a copy of the repository (so the demo's files land in
a temp dir), against the venv running the suite (`make test` has already created and installed
it, which is the other half of the quick start, proven by CI on a fresh clone).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_executes_the_demo_workflow(tmp_path: Path) -> None:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split("\0")
    copy = tmp_path / "prodigy"
    for name in filter(None, tracked):
        if (REPO / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
    git = ["git", "-c", "user.email=t@e.st", "-c", "user.name=test"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "clone"]):
        subprocess.run([*git, *args], cwd=copy, check=True)  # a fresh clone is a checkout
    venv = Path(sys.prefix)
    (venv / ".installed").touch()  # the suite's venv is installed already
    done = subprocess.run(["make", "run", f"VENV={venv}"], cwd=copy, capture_output=True,
                          text=True, timeout=300, env={
                              "PATH": "/usr/bin:/bin", "NO_COLOR": "1",
                              "PRODIGY_HOME": os.environ["PRODIGY_HOME"]})
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "succeeded" in output and "on branch prodigy/" in output
    found = re.search(r"large codebase: (\d+) lines in (\d+) files", output)
    assert found and int(found.group(1)) > 1000 and int(found.group(2)) > 10, output
    # It ran in a worktree of its own, made no commit, and left the checkout as it was.
    assert "nothing to merge" in output
    status = subprocess.run(["git", "status", "--porcelain"], cwd=copy, capture_output=True,
                            text=True, check=True).stdout
    assert status == ""
    listed = subprocess.run(["git", "worktree", "list"], cwd=copy, capture_output=True,
                            text=True, check=True).stdout
    assert len(listed.splitlines()) == 1
