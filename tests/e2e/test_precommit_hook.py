"""The repository works as a pre-commit hook through the real pre-commit framework."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRE_COMMIT = Path(sys.executable).with_name("pre-commit")

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # ~12 s: pre-commit builds its hook env

GOOD = "- shell: echo hello\n"
BAD = "- shell: echo hello\n  timout: 5\n"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.skipif(not PRE_COMMIT.exists(), reason="pre-commit is not installed")
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_hook_passes_good_and_fails_bad_workflow(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "workflows").mkdir(parents=True)
    (project / "workflows" / "good.yml").write_text(GOOD)
    (project / "workflows" / "bad.yml").write_text(BAD)
    _git(project, "init", "-q")
    _git(project, "add", ".")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "NO_COLOR": "1"}

    def try_repo(*files: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PRE_COMMIT), "try-repo", str(REPO), "prodigy-validate", "--files", *files],
            cwd=project, env=env, capture_output=True, text=True, timeout=600,
        )

    good = try_repo("workflows/good.yml")
    assert good.returncode == 0, good.stdout + good.stderr
    bad = try_repo("workflows/bad.yml")
    assert bad.returncode != 0
    assert "workflows/bad.yml:2:3: error[P110]" in bad.stdout + bad.stderr
