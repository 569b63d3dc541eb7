"""`auto_commit: true`: commit what a successful step left behind in its working directory.

Runs in the step wrapper (`step.py`) after the step's own work and before `publish`, so a
`commit_required` on the same step sees the commit. `commit_config` shapes the commit:
- `message_template`: the message, with `${step.name}`, `${step.index}` and the step's git
  change values (`${step.files_changed}`, ... of `git/changes.py`) filled in; the compiler
  refuses any other placeholder (P119). Default: `prodigy: <label>`.
- `message_pattern`: a regular expression the message must match, or the step fails.
- `author` (`Name <email>`), `sign` (`git commit -S`), `include_files` / `exclude_files`
  (glob pathspecs: what is staged; by default everything, as `git add -A`).
A repository without `user.name`/`user.email` commits as prodigy's own identity, as merges do.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from prodigy.runtime.git import changes
from prodigy.runtime.git.repo import GitError, git, needs_identity
from prodigy.runtime.node_vars import step_variables
from prodigy.runtime.ops.base import Task
from prodigy.runtime.ops.capture import Outcome

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def commit(task: Task, outcome: Outcome, head: str | None) -> Outcome:
    """`outcome`, or a failed one saying why the commit could not be made. A step that failed,
    or left nothing to commit, is returned as it is."""
    config = task.inputs.get("auto_commit")
    if not config or outcome.exit_code != 0 or outcome.error:
        return outcome
    cwd = task.cwd
    if git("rev-parse", "--is-inside-work-tree", cwd=cwd, check=False) != "true":
        return _failed(outcome, "auto_commit: the working directory is not a git checkout")
    pathspecs = [*(f":(glob){p}" for p in config.get("include") or ()),
                 *(f":(glob,exclude){p}" for p in config.get("exclude") or ())]
    try:
        # `:/` with exclusions alone: an exclude-only pathspec needs something to exclude from.
        git("add", "-A", "--", *(pathspecs if config.get("include") else [":/", *pathspecs]),
            cwd=cwd)
        if not git("diff", "--cached", "--name-only", cwd=cwd):
            return outcome  # nothing changed: nothing to commit, and not an error
        message = _message(task, config, head)
        pattern = config.get("pattern")
        if pattern and not re.search(pattern, message):
            git("reset", "-q", cwd=cwd, check=False)  # leave the changes unstaged, as found
            return _failed(outcome, f"auto_commit: the message {message!r} does not match "
                                    f"commit_config.message_pattern {pattern!r}")
        args = ["commit", "-q", "--no-verify", "-m", message]
        if config.get("author"):
            args.append(f"--author={config['author']}")
        if config.get("sign"):
            args.append("-S")
        git(*args, cwd=cwd, identity=needs_identity(_top(cwd)))
    except GitError as exc:
        return _failed(outcome, f"auto_commit: {exc}")
    return outcome


def _message(task: Task, config: dict[str, Any], head: str | None) -> str:
    template = config.get("message")
    if not template:
        return f"prodigy: {task.label}"
    values: dict[str, Any] = step_variables(task.node_id, task.label)
    if any(name.strip() not in values for name in _PLACEHOLDER.findall(template)):
        # The change values: staged, so `since` counts them with the step's own commits.
        values.update(changes.since(head, task.cwd).variables("step"))

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(1).strip(), match.group(0))
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)

    return _PLACEHOLDER.sub(fill, template)


def _top(cwd: str) -> Path:
    return Path(git("rev-parse", "--show-toplevel", cwd=cwd))


def _failed(outcome: Outcome, message: str) -> Outcome:
    return replace(outcome, exit_code=1, error=message, output=outcome.output + message + "\n")
