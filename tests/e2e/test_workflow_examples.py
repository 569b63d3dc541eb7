"""Every example in workflows/ runs as its first comment says: the `prodigy run ...` line written
there (plus `--executor inline --in-place`), in a clone of a copy of the repository (a git
checkout: some steps require commits), all examples at once.

An example whose first comment has no `Needs:` runs with nothing but a shell: no Claude CLI
(PRODIGY_CLAUDE_BIN names a program that does not exist), no secrets, an empty HOME. One that
says `Needs: ...` fails that way, for a reason its `Needs:` names, and runs once given what it
needs: the fake Claude CLI below, the secrets in the environment and the deploy key in HOME.
mapreduce.yml also runs as shipped, in worktrees, where every node must succeed without help.

The fake CLI records the prompt, writes a complete validation result where a prompt names
`--output FILE`, and commits when asked to implement something. `curl` fails as it does offline
(the retry example's fallback then runs). prodigy itself is this checkout's (`python -P`: not the
copy's, which has only the tracked files).
"""

from __future__ import annotations

import json
import os
import re
import shlex
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


WORKFLOWS = REPO / "workflows"
OFFLINE_CURL = "#!/bin/sh\necho 'curl: (6) Could not resolve host: example.com' >&2\nexit 6\n"
RUN_LINE = re.compile(r"^(?:[A-Z_]+=\S+ )*prodigy run workflows/(\S+\.yml)(.*)$")


def first_comment(path: Path) -> list[str]:
    """The example's leading comment lines, without their `#` (the editor modeline left out)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        if "yaml-language-server" not in line:
            lines.append(line[1:].strip())
    return lines


def how_to_run(path: Path) -> list[str]:
    """The arguments after `prodigy` of the run line in its first comment (one must be there)."""
    found = [m for m in map(RUN_LINE.match, first_comment(path)) if m]
    assert found, f"{path.name}: its first comment has no `prodigy run workflows/...` line"
    assert found[0].group(1) == path.name, f"{path.name}: its run line runs another file"
    return ["run", f"workflows/{path.name}", *shlex.split(found[0].group(2))]


def needs(path: Path) -> str:
    """The `Needs:` paragraph of its first comment ("" if it needs nothing but a shell)."""
    lines = first_comment(path)
    start = next((i for i, line in enumerate(lines) if line.startswith("Needs:")), None)
    if start is None:
        return ""
    end = next((i for i in range(start, len(lines)) if not lines[i]), len(lines))
    return " ".join(lines[start:end])


def test_every_example_runs_as_its_first_comment_says(tmp_path: Path) -> None:
    tracked = [n for n in subprocess.run(["git", "ls-files", "-z"], cwd=REPO, text=True,
                                         capture_output=True, check=True).stdout.split("\0")
               if n]
    examples = sorted(WORKFLOWS.glob("*.yml"))
    assert examples, "no examples found"
    bin_dir, empty, home = tmp_path / "bin", tmp_path / "empty-home", tmp_path / "home"
    bin_dir.mkdir()
    empty.mkdir()
    (bin_dir / "curl").write_text(OFFLINE_CURL)
    (bin_dir / "curl").chmod(0o755)
    (home / ".config" / "example").mkdir(parents=True)
    (home / ".config" / "example" / "deploy-key").write_text("deploy-key-value\n")
    fake = tmp_path / "fake_claude.py"
    fake.write_text(FAKE_CLAUDE)
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith(("PRODIGY_", "ANTHROPIC_", "CLAUDE"))}
    bare = {**inherited, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(empty), "PRODIGY_CLAUDE_BIN": str(tmp_path / "no-claude" / "claude"),
            "PRODIGY_HOME": str(tmp_path / "prodigy-home"), "PRODIGY_KILL_GRACE_S": "1",
            "NO_COLOR": "1"}
    provided = {**bare, "HOME": str(home), "PRODIGY_CLAUDE_BIN": f"{sys.executable} {fake}",
                "GITHUB_TOKEN": "ghp_exampletoken123", "EXAMPLE_API_KEY": "example-api-key"}
    for name in ("GITHUB_TOKEN", "EXAMPLE_API_KEY"):
        bare.pop(name, None)

    running: dict[str, tuple[Path, subprocess.Popen[str]]] = {}
    checkout(tmp_path / "checkout", tracked)

    def start(tag: str, argv: list[str], env: dict[str, str]) -> None:
        root = tmp_path / tag  # a clone is much faster than another copy
        subprocess.run(["git", "clone", "-q", str(tmp_path / "checkout"), str(root)], check=True)
        running[tag] = (root, subprocess.Popen(
            [sys.executable, "-P", "-m", "prodigy", *argv, "--executor", "inline"], cwd=root,
            env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE))

    for path in examples:
        argv = [*how_to_run(path), "--in-place"]
        if needs(path):
            start(f"{path.stem}-bare", argv, bare)
        start(path.stem, argv, provided if needs(path) else bare)
    # As shipped in a checkout: the run and each agent in worktrees of their own.
    start("mapreduce-worktrees", [*how_to_run(WORKFLOWS / "mapreduce.yml"), "--json"], bare)

    done = {tag: (root, *proc.communicate(timeout=120), proc.returncode)
            for tag, (root, proc) in running.items()}
    failures = [f"{tag}: exit {code}\n{err[-3000:]}"
                for tag, (_, _, err, code) in done.items() if code != 0 and "-bare" not in tag]
    assert not failures, "\n\n".join(failures)
    for path in examples:
        if needs(path):
            _, _, err, code = done[f"{path.stem}-bare"]
            assert code != 0, f"{path.name} says `{needs(path)}` but ran without it"
            _failed_for_a_stated_need(path.name, needs(path), err)

    mapreduce = done["mapreduce"][0] / ".prodigy" / "examples" / "reports"
    results = json.loads((mapreduce / "results.json").read_text())
    assert [r["item"]["path"] for r in results] == ["runtime", "compiler"]
    assert all(r["output"].split()[-1].isdigit() for r in results), results  # a file count
    events = [json.loads(line) for line in done["mapreduce-worktrees"][1].splitlines()]
    finished = {e["node"]: e["status"] for e in events if e["event"] == "node_finished"}
    assert any("map.agent" in node for node in finished)
    assert set(finished.values()) == {"succeeded"}, finished  # no agent needed its handler
    assert "offline: skipping the download" in done["retry"][2]
    validate = how_to_run(WORKFLOWS / "validate.yml")
    spec = validate[validate.index("--args") + 1]
    calls = (done["validate"][0] / "claude_calls.jsonl").read_text().splitlines()
    assert json.loads(calls[1]).startswith(f"/prodigy-validate-spec {spec}")


def _failed_for_a_stated_need(name: str, need: str, err: str) -> None:
    reasons = []
    if "cannot start" in err:
        reasons.append("Claude Code CLI")
    reasons += re.findall(r"environment variable (\w+) is not set", err)
    assert reasons, f"{name} failed without what it needs, but why?\n{err[-2000:]}"
    for reason in reasons:
        assert reason in need, f"{name} needs {reason}, which its `Needs:` does not say"
