"""Every example in workflows/ runs: `prodigy run --executor inline` in a fresh copy of the
repository (a git checkout: some steps require commits), all examples at once.

Claude steps get the fake Claude CLI below (PRODIGY_CLAUDE_BIN): it records the prompt,
writes a complete validation result where a prompt names `--output FILE`, and commits when
asked to implement something. `curl` is a stub that succeeds, so the retry example does not
depend on the network; env-and-secrets gets its secrets from the environment and a temp HOME.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e

FAKE_CLAUDE = """\
import json, os, re, subprocess, sys
prompt = sys.argv[-1]
with open("claude_calls.jsonl", "a") as log:
    log.write(json.dumps(prompt) + "\\n")
out = re.search(r"--output (\\S+)", prompt)
if out:
    os.makedirs(os.path.dirname(out.group(1)) or ".", exist_ok=True)
    with open(out.group(1), "w") as f:
        json.dump({"completion_percentage": 100, "status": "complete"}, f)
if "implement" in prompt:
    subprocess.run(["git", "-c", "user.email=f@k.e", "-c", "user.name=fake", "commit", "-q",
                    "--allow-empty", "-m", "fake: " + prompt[:40]], check=True)
print(json.dumps({"type": "result", "subtype": "success", "is_error": False,
                  "result": "done: " + prompt, "num_turns": 1, "total_cost_usd": 0.001}))
"""


def checkout(root: Path, tracked: list[str]) -> None:
    for name in tracked:
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    git = ["git", "-c", "user.email=t@e.st", "-c", "user.name=test"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "copy"], cwd=root, check=True)


def test_every_example_workflow_runs(tmp_path: Path) -> None:
    tracked = [n for n in subprocess.run(["git", "ls-files", "-z"], cwd=REPO, text=True,
                                         capture_output=True, check=True).stdout.split("\0")
               if n]
    examples = sorted(p.name for p in (REPO / "workflows").glob("*.yml"))
    assert examples, "no examples found"
    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    bin_dir.mkdir()
    (bin_dir / "curl").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "curl").chmod(0o755)
    (home / ".config" / "example").mkdir(parents=True)
    (home / ".config" / "example" / "deploy-key").write_text("deploy-key-value\n")
    fake = tmp_path / "fake_claude.py"
    fake.write_text(FAKE_CLAUDE)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "HOME": str(home), "PRODIGY_CLAUDE_BIN": f"{sys.executable} {fake}",
           "GITHUB_TOKEN": "ghp_exampletoken123", "EXAMPLE_API_KEY": "example-api-key",
           "PRODIGY_KILL_GRACE_S": "1", "NO_COLOR": "1"}
    running: dict[str, tuple[Path, subprocess.Popen[str]]] = {}
    for name in examples:
        root = tmp_path / name.removesuffix(".yml")
        checkout(root, tracked)
        running[name] = (root, subprocess.Popen(
            [sys.executable, "-m", "prodigy", "run", f"workflows/{name}", "--executor",
             "inline", "--in-place", "--args", "specs/example.md"], cwd=root, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    failures = []
    for name, (_root, proc) in running.items():
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            failures.append(f"{name}: exit {proc.returncode}\n{err[-3000:]}")
    assert not failures, "\n\n".join(failures)

    mapreduce = running["mapreduce.yml"][0] / ".prodigy" / "examples" / "reports"
    results = json.loads((mapreduce / "results.json").read_text())
    assert [r["item"]["path"] for r in results] == ["runtime", "compiler"]
    calls = (running["validate.yml"][0] / "claude_calls.jsonl").read_text().splitlines()
    assert json.loads(calls[1]).startswith("/prodigy-validate-spec specs/example.md")
