"""The environment a step's command sees, and the secrets the run must mask.

Precedence, lowest first: the process environment < `env_files` < workflow `env` < the active
profile < captured variables (`PRODIGY_VAR_<name>`) < step `env` < `secrets` < the variables
prodigy always sets (`PRODIGY_AUTOMATION=true`, `PRODIGY_RUN_ID`, and `PRODIGY_ITEM` in map and
foreach bodies). Everything above the process environment is an *overlay* computed once per
step by the driver; the worker lays it over its own environment, so a remote worker keeps its
own PATH.

`PRODIGY_VAR_<name>` carries each captured variable visible to the step, the name as written
with every character outside [A-Za-z0-9_] replaced by `_` (`build.exit_code` ->
`PRODIGY_VAR_build_exit_code`); strings verbatim, other values as compact JSON. Left out:
what every step publishes anyway (`shell.*`, `claude.*`, `write_file.*`), raw outputs
(`*.output`, `*.stderr`; read them through `${...}`), `map.results` (any size: it grows with the
items; reduce reads it through `${map.results}` or the file `${map.results_file}`), and values
over 64 KiB (the kernel limits one variable to 128 KiB, and all of them together to a few MiB:
E2BIG).

Keys read from `plan.workflow` (the compiler emits them):

    env        {NAME: value}, the active profile already applied: value is an encoded
               template, or {"command": tpl, "cache": bool} (its stdout, run once at run
               start), or {"condition": expr, "when_true": tpl, "when_false": tpl}
    env_files  [encoded path, ...], dotenv files relative to the working directory; a
               missing one is skipped (upstream does the same)
    secrets    {NAME: {"provider": "env" | "file", "key": VAR_OR_PATH}}; never a value
    args       {NAME: text}, bound --arg/--args values (template variables)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodigy.runtime.bounded_read import MIB, read_text_bounded
from prodigy.runtime.errors import ProdigyError
from prodigy.runtime.nodes import NODE_KINDS, StepParams
from prodigy.runtime.ops.render import render, test
from prodigy.runtime.span import Span

MAX_VAR_BYTES = 64 * 1024
SECRET_FILE_LIMIT = MIB  # a secrets or env file larger than this is refused, not read
# What every step node publishes (`shell.output`, `write_file.exit_code`, `last.*`, ...) and
# a tracked step's git changes (`step.files_changed`, ...): not exported.
_AUTO = (*(f"{kind}." for kind, cls in NODE_KINDS.items() if issubclass(cls, StepParams)),
         "step.", "last.")
_RUN_IDENTITY = frozenset({"PRODIGY_RUN_ID", "PRODIGY_RUN_TAG"})  # not in checkpoint keys
_NOT_EXPORTED = frozenset({"map.results"})  # unbounded: never measured, never exported
_SENSITIVE = re.compile(
    r"pass(word|wd)?|pwd|token|api[_-]?key|secret|auth|bearer|private[_-]?key|ssh[_-]?key|"
    r"access[_-]?key|credential", re.IGNORECASE)
_DOTENV = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
# An assignment whose name _DOTENV refused (`1X=`, `A-B=`, `=v`): the name's group, to point at.
_BAD_ASSIGNMENT = re.compile(r"^(\s*(?:export\s+)?)([^=#]*?)\s*=")


class SetupError(ProdigyError):
    """The run cannot start: a secret or env file is missing, an env command failed. With a
    span (a bad line of an env file), it is reported at that line under its own code."""

    def __init__(self, message: str, code: str = "P506", span: Span | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.span = span


@dataclass(frozen=True)
class RunEnvironment:
    overlay: dict[str, str]  # env_files < workflow env (profile applied)
    secrets: dict[str, str]
    run_id: str
    mask_values: tuple[str, ...] = field(default=())
    # Unique to this run of this state dir: how the run's processes are found to stop them
    # (`PRODIGY_RUN_TAG`), so a run of another project with the same id is never touched.
    run_tag: str = ""

    def __post_init__(self) -> None:
        # Most steps add nothing of their own: their overlay and its digest are shared.
        base = {**self.overlay, **self.secrets, **self.identity()}
        object.__setattr__(self, "_base", base)
        object.__setattr__(self, "_base_digest", env_digest(self.key_view(base)))

    def step_overlay(self, step_env: Mapping[str, str], variables: Mapping[str, Any],
                     item: Any = None) -> tuple[dict[str, str], str]:
        """The step's overlay, and the digest of what of it enters the checkpoint key."""
        exported = variable_env(variables)
        if not step_env and not exported and item is None:
            return self._base, self._base_digest  # type: ignore[attr-defined]
        env = dict(self.overlay)
        env.update(exported)
        env.update(step_env)
        env.update(self.secrets)
        env.update(self.identity())
        if item is not None:
            env["PRODIGY_ITEM"] = item if isinstance(item, str) else json.dumps(item)
        return env, env_digest(self.key_view(env))

    def identity(self) -> dict[str, str]:
        """What prodigy sets in every step's environment, whatever the step says."""
        ids = {"PRODIGY_AUTOMATION": "true", "PRODIGY_RUN_ID": self.run_id}
        if self.run_tag:
            ids["PRODIGY_RUN_TAG"] = self.run_tag
        return ids

    def digest(self, overlay: Mapping[str, str]) -> str:
        return env_digest(self.key_view(overlay))

    def key_view(self, overlay: Mapping[str, str]) -> dict[str, str]:
        """The overlay as it enters a checkpoint key: secret names, never values; no run id."""
        view = {k: v for k, v in overlay.items() if k not in _RUN_IDENTITY}
        for name in self.secrets:
            if name in view:
                view[name] = f"<secret {name}>"
        return view


def env_digest(view: Mapping[str, str]) -> str:
    body = json.dumps(view, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def variable_env(variables: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in variables.items():
        if name in _NOT_EXPORTED or name.startswith(_AUTO) or name.endswith((".output",
                                                                            ".stderr")):
            continue
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        if len(text) <= MAX_VAR_BYTES:
            out["PRODIGY_VAR_" + re.sub(r"[^A-Za-z0-9_]", "_", name)] = text
    return out


def base_scope(workflow: Mapping[str, Any], run_env: RunEnvironment,
               run_vars: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Variables every node sees: workflow env, bound arguments, the run's identity
    (`workflow.name`, `workflow.id`: the run id) and what the run itself binds (`run_vars`:
    `WORKTREE`, `PROJECT_ROOT`, the run's base commit as `@run_base`). `env.NAME` is the
    environment a step starts from, as upstream means it: the process environment under
    env_files and workflow env. Secret values are never template variables; they reach
    commands only as env vars."""
    return {**run_env.overlay, "env": {**os.environ, **run_env.overlay},
            "workflow.name": workflow.get("name"), "workflow.id": run_env.run_id,
            **(workflow.get("args") or {}), **(run_vars or {})}


def build(workflow: Mapping[str, Any], run_id: str, cwd: Path, scope: Mapping[str, Any],
          dry_run: bool = False, run_tag: str = "") -> RunEnvironment:
    """Read env files, evaluate workflow env and profile, load secrets: once, at run start.
    A dry run does not execute command-valued env entries."""
    overlay: dict[str, str] = {}
    for encoded in workflow.get("env_files") or ():
        path = cwd / render(encoded, scope)
        if path.exists():  # a missing env file is skipped, as upstream does (local overrides)
            overlay.update(load_env_file(path))
    # The compiler has already applied the active profile to `env` (plan.schema.json).
    values = dict(workflow.get("env") or {})
    for name, value in values.items():
        if dry_run and isinstance(value, Mapping) and "command" in value:
            overlay[name] = f"<output of {render(value['command'], scope)!r}>"
            continue
        overlay[name] = _env_value(name, value, {**scope, **overlay}, overlay, cwd)
    secrets = {name: read_secret(name, spec, cwd)
               for name, spec in (workflow.get("secrets") or {}).items()}
    masks = list(secrets.values())
    masks += [v for k, v in overlay.items() if _SENSITIVE.search(k) and len(v) >= 6]
    return RunEnvironment(overlay, secrets, run_id, tuple(sorted(set(masks))), run_tag)


def run_tag(state_root: Path, run_id: str) -> str:
    """`PRODIGY_RUN_TAG` of `run_id` in the state dir `state_root` (the same on resume)."""
    return hashlib.sha256(f"{state_root.resolve()}\0{run_id}".encode()).hexdigest()[:20]


def _env_value(name: str, value: Any, scope: Mapping[str, Any], overlay: Mapping[str, str],
               cwd: Path) -> str:
    if isinstance(value, Mapping) and "command" in value:
        command = render(value["command"], scope)
        proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, cwd=cwd,
                              env={**os.environ, **overlay}, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise SetupError(f"env {name}: command {command!r} exited with {proc.returncode}: "
                             f"{proc.stderr.strip()[-500:]}")
        return proc.stdout.strip()
    if isinstance(value, Mapping) and "condition" in value:
        chosen = value["when_true"] if test(value["condition"], scope) else value["when_false"]
        return render(chosen, scope)
    return render(value, scope)


def read_secret(name: str, spec: Any, cwd: Path) -> str:
    if isinstance(spec, str):
        spec = {"provider": "env", "key": spec}
    provider, key = spec.get("provider", "env"), spec.get("key", name)
    if provider == "env":
        if key not in os.environ:
            raise SetupError(f"secret {name}: environment variable {key} is not set")
        return os.environ[key]
    if provider == "file":
        path = cwd / Path(key).expanduser()  # an absolute or ~ path stays as it is
        try:
            return read_text_bounded(path, SECRET_FILE_LIMIT).rstrip("\n")
        except OSError as exc:
            raise SetupError(f"secret {name}: cannot read {path}: {exc.strerror}") from None
    raise SetupError(f"secret {name}: unknown provider {provider!r} (use env or file)")


def _refuse_name(path: Path, number: int, line: str) -> None:
    """P120 at a `NAME=value` line whose NAME the environment cannot hold (the spawner would
    fail on it, with every command then running); a line with no `=` stays ignored."""
    bad = _BAD_ASSIGNMENT.match(line)
    if bad is None:
        return
    col, name = len(bad.group(1)) + 1, bad.group(2)
    shown = repr(name) if len(name) <= 40 else f"{name[:40]!r}..."
    raise SetupError(f"env file {path}: {shown} is not an environment variable name",
                     code="P120", span=Span(str(path), number, col, number,
                                            col + max(1, min(len(name), 80))))


def load_env_file(path: Path) -> dict[str, str]:
    """A dotenv file: KEY=VALUE lines, optional `export`, quotes, `#` comments."""
    try:
        text = read_text_bounded(path, SECRET_FILE_LIMIT)
    except OSError as exc:
        raise SetupError(f"env file {path}: {exc.strerror}") from None
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _DOTENV.match(line)
        if match is None:
            _refuse_name(path, number, line)
            continue
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
            if line.count('"') >= 2 and match.group(2).startswith('"'):
                try:
                    value = value.encode().decode("unicode_escape")
                except UnicodeDecodeError as exc:
                    raise SetupError(f"env file {path}: {key}: bad escape ({exc.reason})"
                                     ) from None
        else:
            value = re.sub(r"\s+#.*$", "", value)
        out[key] = value
    return out
