"""`working_dir` is contained as a `write_file` path is: a step whose directory resolves
outside the run's directory (absolute, `../x`, item data, a symlink) fails, writing nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def run(project: Path, workflow: str) -> subprocess.CompletedProcess[str]:
    (project / "w.yml").write_text(workflow, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "prodigy", "run", "w.yml"], cwd=project,
                          text=True, capture_output=True, timeout=60,
                          env={**os.environ, "PRODIGY_KILL_GRACE_S": "1"})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    made = tmp_path / "project"
    (made / "sub").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", made / "link")
    return made


ESCAPES = {"absolute": "{outside}", "parent": "../outside", "symlink": "link",
           "dotdot_inside": "sub/../../outside"}


@pytest.mark.parametrize("kind", sorted(ESCAPES))
@pytest.mark.parametrize("command", ["shell: touch pwned",
                                     "write_file: {path: pwned, content: x}"])
def test_a_working_dir_outside_the_project_is_refused(project: Path, kind: str,
                                                      command: str) -> None:
    outside = project.parent / "outside"
    where = ESCAPES[kind].format(outside=outside)
    done = run(project, f"- {command}\n  working_dir: '{where}'\n")
    assert done.returncode == 1, done.stderr
    assert "outside the run's directory" in done.stdout + done.stderr
    assert not list(outside.iterdir())


def test_item_data_cannot_lead_a_map_agent_out(project: Path) -> None:
    items = [{"dir": "sub"}, {"dir": "../outside"}]
    (project / "items.json").write_text(json.dumps(items), encoding="utf-8")
    done = run(project, "mode: mapreduce\nmap:\n  input: items.json\n  agent_template:\n"
                        "    - shell: touch pwned\n      working_dir: ${item.dir}\n")
    assert (project / "sub" / "pwned").exists(), done.stderr
    assert not list((project.parent / "outside").iterdir())


def test_a_directory_inside_the_project_still_works(project: Path) -> None:
    done = run(project, f"- shell: touch made\n  working_dir: sub\n"
                        f"- shell: touch also\n  working_dir: '{project}/sub'\n")
    assert done.returncode == 0, done.stderr
    assert (project / "sub" / "made").exists() and (project / "sub" / "also").exists()


@pytest.mark.parametrize("kind", sorted(ESCAPES))
@pytest.mark.parametrize("command", ["shell: touch made",
                                     "write_file: {path: made, content: x}"])
def test_allow_outside_lets_the_step_leave_on_purpose(project: Path, kind: str,
                                                      command: str) -> None:
    outside = project.parent / "outside"
    where = ESCAPES[kind].format(outside=outside)
    done = run(project, f"- {command}\n  working_dir: '{where}'\n  allow_outside: true\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (outside / "made").exists()


def test_allow_outside_lets_a_write_file_path_leave(project: Path) -> None:
    outside = project.parent / "outside"
    done = run(project, f"- write_file: {{path: '{outside}/abs', content: x}}\n"
                        "  allow_outside: true\n"
                        "- write_file: {path: ../outside/rel, content: y}\n"
                        "  allow_outside: true\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (outside / "abs").read_text() == "x" and (outside / "rel").read_text() == "y"


def test_a_nul_in_working_dir_is_refused_even_when_allowed(project: Path) -> None:
    done = run(project, "- shell: touch made\n  working_dir: \"sub\\0x\"\n"
                        "  allow_outside: true\n")
    assert done.returncode == 1
    assert "holds a NUL character" in done.stdout + done.stderr
    assert not (project / "sub" / "made").exists()
