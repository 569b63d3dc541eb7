"""The commands that only look at run state work on a read-only state dir (issue 18, item 11):
a CI artefact or a colleague's copy can be inspected as it is, and nothing in it changes.

Read-only is `chmod -R a-w` for an ordinary user; root ignores file modes, so as root the
state dir is bind-mounted read-only in a mount namespace of the command's own (`unshare`)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_map_cli import MAPREDUCE
from tests.e2e.test_run_cli import cli

pytestmark = pytest.mark.e2e

_RO_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A map run with one item in the DLQ, and a second run whose driver died."""
    root = tmp_path_factory.mktemp("ro")
    (root / "wf.yml").write_text(MAPREDUCE)
    assert cli(root, "run", "wf.yml", "--run-id", "m1", "--jobs", "2").returncode == 0
    assert cli(root, "run", "wf.yml", "--run-id", "dead", "--jobs", "2").returncode == 0
    record = root / ".prodigy" / "runs" / "dead" / "run.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "status": "running",
                                  "finished_at": None}))
    state = root / ".prodigy"
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [state, *state.rglob("*")]}
        for path in modes:
            path.chmod(stat.S_IMODE(modes[path]) & ~0o222)
        yield root
        for path, mode in modes.items():
            path.chmod(stat.S_IMODE(mode))
        return
    probe = subprocess.run(["unshare", "--mount", "sh", "-c", _RO_MOUNT + "; touch \"$0/x\"",
                            str(state), "true"], capture_output=True, text=True) \
        if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        pytest.skip("running as root without a mount namespace: cannot make the state dir "
                    "read-only")
    yield root


def _look(project: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "prodigy", *argv]
    if os.geteuid() == 0:
        cmd = ["unshare", "--mount", "sh", "-c", _RO_MOUNT, str(project / ".prodigy"), *cmd]
    done = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_dlq_list_and_show_read_a_read_only_state_dir(project: Path) -> None:
    before = _snapshot(project / ".prodigy")
    listed = _look(project, "dlq", "list", "m1", "--json")
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)
    assert (entry["item_id"], entry["item"]) == ("item_1", {"n": 2})
    shown = _look(project, "dlq", "show", "m1", "item_1")
    assert shown.returncode == 0 and "exit code 1" in shown.stdout, shown.stderr
    assert _look(project, "dlq", "show", "m1", "item_0").returncode == 2
    assert _snapshot(project / ".prodigy") == before


@pytest.mark.parametrize("argv", [("runs", "list"), ("checkpoints", "list"),
                                  ("runs", "show", "m1"), ("runs", "show", "dead"),
                                  ("logs", "m1"), ("run", "wf.yml", "--resume", "m1", "--dry-run")])
def test_run_state_reads_on_a_read_only_state_dir(project: Path, argv: tuple[str, ...]) -> None:
    done = _look(project, *argv)
    assert done.returncode == 0, done.stderr
    if argv[-1] == "list":  # the dead driver's run is told apart without taking its lock
        assert "interrupted" in done.stdout and "m1" in done.stdout


def test_report_of_a_read_only_state_dir_lists_its_failed_item(project: Path,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    done = _look(project, "report", "m1", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "item_1" in out.read_text()
