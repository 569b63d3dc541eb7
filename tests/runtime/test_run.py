"""The run loop end to end in one process (inline executor): variables, handlers, retries,
gates, checkpoints and resume, masking. The real CLI and the process pool are in tests/e2e."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from prodigy.runtime.decide import Action, Why, dry_run
from prodigy.runtime.errors import PlanError
from prodigy.runtime.store import CheckpointStore, RunStatus

from .conftest import build_plan, chain, sh

ok, failed = RunStatus.SUCCEEDED, RunStatus.FAILED


def tpl(*parts: Any) -> list[Any]:
    return ["tpl", *parts]


def var(*path: str) -> list[Any]:
    return ["var", list(path)]


def events_of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Events of one kind from the latest start or resume of the run (the log accumulates)."""
    starts = [i for i, e in enumerate(events) if e["event"] in ("run_started", "run_resumed")]
    return [e for e in events[starts[-1] if starts else 0:] if e["event"] == kind]


def test_typed_captures_flow_to_later_nodes(run_plan: Any, tmp_path: Path) -> None:
    plan = build_plan(
        [sh("n", "echo 42", capture="count", capture_format="number"),
         sh("j", "echo '{\"a\": [1, 2]}'", capture="doc", capture_format="json"),
         sh("l", "printf 'x\\ny\\n'", capture="rows", capture_format="lines"),
         sh("out", tpl("echo ", var("count"), " ", var("doc", "a"), " ", var("rows"), " ",
                       var("count", "exit_code"), " ", var("count", "success"),
                       " > result.txt"))],
        [*chain("n", "j", "l"), ("l", "out", "sequence"), ("n", "out", "data"),
         ("j", "out", "data"), ("l", "out", "data")])
    outcome, _, _ = run_plan(plan)
    assert outcome.status is ok
    assert (tmp_path / "result.txt").read_text() == "42 [1,2] x, y 0 true\n"


def test_a_value_that_does_not_parse_fails_the_step(run_plan: Any) -> None:
    outcome, events, _ = run_plan(build_plan([sh("n", "echo oops", capture="v",
                                                 capture_format="json")]))
    assert outcome.status is failed
    assert "capture 'v': stdout is not JSON" in events_of(events, "node_finished")[0]["message"]


def test_unhandled_failure_fails_the_run_and_skips_downstream_with_reason(run_plan: Any) -> None:
    plan = build_plan([sh("a", "exit 4"), sh("b", "true"), sh("c", "true")], chain("a", "b", "c"))
    outcome, events, _ = run_plan(plan)
    assert outcome.status is failed
    assert outcome.failed[0]["node"] == "a" and outcome.failed[0]["exit_code"] == 4
    skipped = {e["node"]: (e["reason"], e["cause"]) for e in events_of(events, "node_skipped")}
    assert skipped == {"b": ("upstream_failed", "a"), "c": ("upstream_failed", "a")}
    assert outcome.counts == {"failed": 1, "skipped": 2}


def test_handler_sees_the_error_and_the_output(run_plan: Any, tmp_path: Path) -> None:
    report = tpl("printf '%s|%s|%s|%s' \"", var("error", "message"), "\" \"",
                 var("error", "exit_code"), "\" \"", var("error", "step"), "\" \"",
                 var("shell", "output"), "\" > handled.txt")
    plan = build_plan(
        [sh("n", "echo building; exit 7"), ("h", "handler", {"max_attempts": 1}),
         sh("fix", report), sh("next", "echo after > next.txt")],
        [("n", "h", "on_failure"), ("h", "fix", "sequence"), ("n", "next", "sequence")])
    outcome, events, _ = run_plan(plan)
    assert outcome.status is ok and outcome.counts["handled"] == 1
    message, code, step, output = (tmp_path / "handled.txt").read_text().split("|")
    assert (message, code, step) == ("exit code 7", "7", "shell: n")
    assert "building" in output
    assert (tmp_path / "next.txt").exists()
    assert events_of(events, "node_finished")[-2]["status"] == "handled"


def test_handler_max_attempts_reruns_the_original(run_plan: Any, tmp_path: Path) -> None:
    plan = build_plan(
        [sh("n", "echo x >> tries; test $(wc -l < tries) -ge 3"),
         ("h", "handler", {"max_attempts": 3}), sh("fix", "echo fix >> fixes")],
        [("n", "h", "on_failure"), ("h", "fix", "sequence")])
    outcome, _, _ = run_plan(plan)
    assert outcome.status is ok
    assert len((tmp_path / "tries").read_text().split()) == 3
    assert len((tmp_path / "fixes").read_text().split()) == 2


def test_retry_with_backoff_until_success(run_plan: Any, tmp_path: Path) -> None:
    retry = {"attempts": 3, "backoff": "fixed", "initial_delay_s": 0.05}
    plan = build_plan([sh("n", "echo x >> tries; test $(wc -l < tries) -ge 3", retry=retry)])
    outcome, events, state = run_plan(plan)
    assert outcome.status is ok
    retries = events_of(events, "node_retrying")
    assert [e["attempt"] for e in retries] == [1, 2] and retries[0]["delay_s"] == 0.05
    log = (state.log_dir("r1") / "n.log").read_text()
    assert "# attempt 2" in log and "# attempt 3" in log


def test_retry_on_only_retries_matching_failures(run_plan: Any, tmp_path: Path) -> None:
    retry = {"attempts": 3, "initial_delay_s": 0, "retry_on": ["rate_limit"]}
    plan = build_plan([sh("n", "echo x >> tries; echo 'disk full' >&2; exit 1", retry=retry)])
    outcome, events, _ = run_plan(plan)
    assert outcome.status is failed and not events_of(events, "node_retrying")
    assert len((tmp_path / "tries").read_text().split()) == 1


def test_timeout_fails_with_a_message(run_plan: Any) -> None:
    outcome, _, _ = run_plan(build_plan([sh("n", "sleep 5", timeout_s=0.3)]))
    assert outcome.failed[0]["message"] == "timed out after 0.3 seconds"
    assert outcome.failed[0]["exit_code"] == -1


def test_closed_gate_skips_and_the_run_goes_on(run_plan: Any, tmp_path: Path) -> None:
    plan = build_plan(
        [sh("n", "echo 3", capture="v", capture_format="number"),
         ("g", "gate", {"when": [">", ["ref", ["v"]], ["lit", 5]]}),
         sh("big", "touch big"), sh("end", "touch end")],
        [("n", "g", "data"), ("n", "g", "sequence"), ("g", "big", "gate"),
         ("g", "big", "sequence"), ("big", "end", "sequence")])
    outcome, events, _ = run_plan(plan)
    assert outcome.status is ok and not (tmp_path / "big").exists() and (tmp_path / "end").exists()
    assert events_of(events, "node_skipped")[0]["reason"] == "gate_closed"


def test_steps_get_automation_run_id_and_captured_variables(run_plan: Any, tmp_path: Path) -> None:
    plan = build_plan([sh("a", "echo v1", capture="first"),
                       sh("b", "env | grep -E '^PRODIGY_' | sort > env.txt")], chain("a", "b"))
    run_plan(plan, run_id="envtest")
    env = dict(line.split("=", 1) for line in (tmp_path / "env.txt").read_text().splitlines())
    assert env["PRODIGY_AUTOMATION"] == "true" and env["PRODIGY_RUN_ID"] == "envtest"
    assert env["PRODIGY_VAR_first"] == "v1" and env["PRODIGY_VAR_first_exit_code"] == "0"


def test_write_file_and_output_file(run_plan: Any, tmp_path: Path) -> None:
    plan = build_plan(
        [sh("n", "printf hello", output_file="out/n.txt", capture="x"),
         ("w", "write_file", {"path": "data/x.json", "content": tpl('{"v": "', var("x"), '"}'),
                              "format": "json", "create_dirs": True}),
         ("bad", "write_file", {"path": "../escape.txt", "content": "no"})],
        [("n", "w", "data"), ("w", "bad", "sequence")])
    outcome, _, _ = run_plan(plan)
    assert (tmp_path / "out/n.txt").read_text() == "hello"
    assert (tmp_path / "data/x.json").read_text() == '{\n  "v": "hello"\n}\n'
    assert json.loads((tmp_path / "data/x.json").read_text()) == {"v": "hello"}
    assert "traversal" in outcome.failed[0]["message"]
    assert not (tmp_path.parent / "escape.txt").exists()


def test_a_loop_without_its_sub_plan_is_refused_before_anything_runs(run_plan: Any,
                                                                     tmp_path: Path) -> None:
    plan = build_plan([sh("first", "touch ran"), ("m", "map", {"input": "x.json", "agent": "a"})])
    with pytest.raises(PlanError, match="no sub-plan 'a' \\(of node m\\)"):
        run_plan(plan)
    assert not (tmp_path / "ran").exists()


def test_secrets_are_masked_everywhere(run_plan: Any, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", "tok-8a7b6c5d")
    plan = build_plan([sh("n", "echo token $API; echo $API >&2; exit 1", capture="c")],
                      workflow={"secrets": {"API": {"provider": "env", "key": "MY_TOKEN"}}})
    outcome, _, state = run_plan(plan)
    assert "tok-8a7b6c5d" not in json.dumps(outcome.failed)
    for path in state.root.rglob("*"):
        if path.is_file():
            assert b"tok-8a7b6c5d" not in path.read_bytes(), path
    assert "token ***" in (state.log_dir("r1") / "n.log").read_text()


def test_missing_secret_stops_the_run_before_it_starts(run_plan: Any) -> None:
    from prodigy.runtime.environment import SetupError

    plan = build_plan([sh("n", "true")], workflow={"secrets": {"API": "NOT_SET_ANYWHERE_X"}})
    with pytest.raises(SetupError, match="NOT_SET_ANYWHERE_X is not set"):
        run_plan(plan)


def counter_plan(middle: str = "echo b >> b.count") -> Any:
    return build_plan([sh("a", "echo a >> a.count"), sh("b", middle),
                       sh("c", "echo c >> c.count")], chain("a", "b", "c"))


def count(tmp_path: Path, name: str) -> int:
    path = tmp_path / f"{name}.count"
    return len(path.read_text().split()) if path.exists() else 0


def test_resume_runs_only_what_did_not_finish(run_plan: Any, tmp_path: Path) -> None:
    flaky = "echo b >> b.count; test -f fixed"
    outcome, _, _ = run_plan(counter_plan(flaky))
    assert outcome.status is failed
    (tmp_path / "fixed").touch()
    outcome, events, state = run_plan(counter_plan(flaky), resume=True)
    assert outcome.status is ok
    assert (count(tmp_path, "a"), count(tmp_path, "b"), count(tmp_path, "c")) == (1, 2, 1)
    assert [e["node"] for e in events_of(events, "node_reused")] == ["a"]
    why = {e["node"]: e["why"] for e in events_of(events, "node_started")[-2:]}
    assert why == {"b": "failed last time", "c": "no checkpoint"}
    store = CheckpointStore(state.cache_dir)
    assert store.check() == []
    store.close()


def test_resume_of_an_edited_plan_reruns_changed_nodes_and_descendants(
        run_plan: Any, tmp_path: Path) -> None:
    run_plan(counter_plan())
    run_plan(counter_plan(), resume=True)  # nothing changed: nothing runs
    assert (count(tmp_path, "a"), count(tmp_path, "b"), count(tmp_path, "c")) == (1, 1, 1)
    edited = counter_plan("echo b >> b.count # edited")
    from prodigy.runtime.store import StateDir

    rows = {n.id: d for n, d in dry_run(edited, state=StateDir(tmp_path / "state"),
                                         run_id="r1", cwd=tmp_path)}
    assert rows["a"].action is Action.REUSE
    assert rows["b"].action is Action.RUN and rows["b"].reasons[0][0] is Why.FINGERPRINT_CHANGED
    assert rows["c"].reasons == ((Why.UPSTREAM_CHANGED, "b"),)
    run_plan(edited, resume=True)
    assert (count(tmp_path, "a"), count(tmp_path, "b"), count(tmp_path, "c")) == (1, 2, 2)


def test_force_reruns_a_node(run_plan: Any, tmp_path: Path) -> None:
    run_plan(counter_plan())
    _, events, _ = run_plan(counter_plan(), resume=True, force=["b"])
    assert count(tmp_path, "b") == 2 and count(tmp_path, "c") == 1  # c's key did not change
    assert events_of(events, "node_started")[0]["why"] == "forced"


def test_a_handled_node_is_reused_as_handled(run_plan: Any, tmp_path: Path) -> None:
    plan = build_plan([sh("n", "exit 1"), ("h", "handler", {}), sh("fix", "echo f >> f.count"),
                       sh("later", "test -f ok")],
                      [("n", "h", "on_failure"), ("h", "fix", "sequence"),
                       ("n", "later", "sequence")])
    assert run_plan(plan)[0].status is RunStatus.FAILED  # `later` fails: there is a resume
    (tmp_path / "ok").touch()
    outcome, _, _ = run_plan(plan, resume=True)
    assert outcome.counts == {"not_run": 2, "reused": 1, "succeeded": 1}
    assert count(tmp_path, "f") == 1


def test_the_local_pool_gives_the_same_results(run_plan: Any, tmp_path: Path) -> None:
    nodes = [sh(f"n{i}", f"echo {i} > out{i}") for i in range(6)]
    outcome, _, _ = run_plan(build_plan([*nodes, sh("join", "cat out* > all")],
                                        [(f"n{i}", "join", "sequence") for i in range(6)]),
                             executor="local", jobs=2)
    assert outcome.status is ok
    assert sorted((tmp_path / "all").read_text().split()) == [str(i) for i in range(6)]


def test_the_workflow_timeout_stops_the_run_as_failed(run_plan: Any, tmp_path: Path) -> None:
    plan = build_plan([sh("slow", "echo $$ > pid; sleep 30"), sh("after", "touch after")],
                      chain("slow", "after"), workflow={"timeout_s": 0.5})
    outcome, _, _ = run_plan(plan, executor="local", jobs=1)
    assert outcome.status is failed and "timeout (0.5s)" in outcome.message
    assert outcome.counts == {"interrupted": 1, "skipped": 1}
    assert outcome.duration < 10 and not (tmp_path / "after").exists()


def _repo(path: Path) -> Path:
    """A git checkout with one commit."""
    path.mkdir()
    for args in (("init", "-q"), ("config", "commit.gpgsign", "false")):
        subprocess.run(["git", *args], cwd=path, check=True)
    (path / "README").write_text("x\n")
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"],
                   cwd=path, check=True)
    return path


def _log(repo: Path) -> list[str]:
    """Each commit, newest first, as `subject|file,file`."""
    out = subprocess.run(["git", "log", "--format=%x00%s|", "--name-only"], cwd=repo,
                         check=True, capture_output=True, text=True).stdout
    entries = [entry.partition("|") for entry in out.split("\0")[1:]]
    return [f"{subject}|{','.join(files.split())}" for subject, _, files in entries]


def test_auto_commit_commits_what_the_step_left_before_commit_required_checks(
        run_plan: Any, tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    config = {"message_template": "${step.name} changed ${step.files_changed}",
              "exclude_files": ["*.log"], "author": "Bot <bot@example.com>"}
    plan = build_plan([sh("n", "touch ran noise.log", auto_commit=True, commit_required=True,
                          commit_config=config),
                       sh("m", "rm noise.log", auto_commit=True)],
                      chain("n", "m"), workflow={"in_place": True})
    outcome, _, _ = run_plan(plan, cwd=repo)
    assert outcome.status is ok, outcome.message
    # One commit for `n` (its message rendered from what it changed, the excluded file left
    # out), none for `m`: removing the untracked file left nothing to commit.
    assert _log(repo) == ["shell: n changed noise.log, ran|ran", "init|README"]
    assert subprocess.run(["git", "log", "-1", "--format=%an <%ae>"], cwd=repo, check=True,
                          capture_output=True, text=True).stdout == "Bot <bot@example.com>\n"


def test_auto_commit_without_an_identity_commits_as_prodigy(
        run_plan: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path / "repo")
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
                 "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    plan = build_plan([sh("n", "touch ran", auto_commit=True)], workflow={"in_place": True})
    outcome, _, _ = run_plan(plan, cwd=repo)
    assert outcome.status is ok, outcome.failed
    assert subprocess.run(["git", "log", "-1", "--format=%s|%an"], cwd=repo, check=True,
                          capture_output=True, text=True).stdout == "prodigy: shell: n|prodigy\n"


def test_auto_commit_fails_the_step_when_the_message_breaks_its_pattern(
        run_plan: Any, tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    plan = build_plan([sh("n", "touch ran", auto_commit=True,
                          commit_config={"message_pattern": "^feat: "})],
                      workflow={"in_place": True})
    outcome, _, _ = run_plan(plan, cwd=repo)
    assert outcome.status is failed and "does not match" in str(outcome.failed)
    assert _log(repo) == ["init|README"]


def test_max_iterations_outside_git_runs_every_iteration_with_its_number(
        run_plan: Any, tmp_path: Path) -> None:
    plan = build_plan([sh("n", 'echo "${ITERATION} $ITERATION" >> seen')],
                      workflow={"max_iterations": 3})
    outcome, _, _ = run_plan(plan)
    assert outcome.status is ok
    # Outside git there are no commits to tell progress by: every iteration runs.
    assert (tmp_path / "seen").read_text() == "1 1\n2 2\n3 3\n"
    # The summary counts what every iteration ran, not only the last one.
    assert outcome.steps == {"succeeded": 3} and outcome.counts == {"succeeded": 3}


def test_merge_phase_nodes_are_not_run_without_a_worktree(run_plan: Any,
                                                          tmp_path: Path) -> None:
    from prodigy.runtime.plan import Plan

    data = build_plan([sh("a", "touch a"), sh("m", "touch merged")], chain("a", "m")).to_json()
    data["nodes"][1]["phase"] = "merge"
    outcome, events, _ = run_plan(Plan.from_json(data))
    assert outcome.status is ok and outcome.counts == {"not_run": 1, "succeeded": 1}
    assert (tmp_path / "a").exists() and not (tmp_path / "merged").exists()
    skipped = events_of(events, "node_skipped")
    assert [(e["node"], e["reason"]) for e in skipped] == [("m", "no_worktree")]


def test_an_item_bound_by_the_compiler_reaches_templates_and_env(run_plan: Any,
                                                                 tmp_path: Path) -> None:
    plan = build_plan([sh("n", tpl("echo ", var("item", "name"), " $PRODIGY_ITEM > item.txt"),
                          bindings={"item": {"name": "a.py", "size": 3}})])
    run_plan(plan)
    assert (tmp_path / "item.txt").read_text() == 'a.py {"name": "a.py", "size": 3}\n'


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"path": "/tmp/prodigy-absolute-escape.txt", "content": "no"}, "must be relative"),
        ({"path": "link/escape.txt", "content": "no"}, "traversal"),
        ({"path": "bad.json", "content": "{not json", "format": "json"}, "JSON"),
        ({"path": "bad.yaml", "content": "a: [1,", "format": "yaml"}, "YAML"),
    ],
    ids=["absolute", "symlink", "invalid-json", "invalid-yaml"],
)
def test_write_file_refuses_escapes_and_invalid_content(
    run_plan: Any, tmp_path: Path, params: dict[str, Any], message: str
) -> None:
    outside = tmp_path.parent / f"outside-{tmp_path.name}"
    outside.mkdir()
    (tmp_path / "link").symlink_to(outside)
    outcome, _, _ = run_plan(build_plan([("w", "write_file", params)]))
    assert outcome.failed and message.lower() in outcome.failed[0]["message"].lower()
    assert not any(outside.iterdir())
    assert not Path("/tmp/prodigy-absolute-escape.txt").exists()


def test_write_file_mode_and_yaml_pretty_printing(run_plan: Any, tmp_path: Path) -> None:
    plan = build_plan([("w", "write_file", {"path": "conf.yaml", "content": "{b: 1, a: [x]}",
                                            "format": "yaml", "mode": "0600"})])
    outcome, _, _ = run_plan(plan)
    assert not outcome.failed
    written = tmp_path / "conf.yaml"
    assert (written.stat().st_mode & 0o777) == 0o600
    assert "b: 1" in written.read_text() and "- x" in written.read_text()


def test_a_phase_timeout_bounds_the_phase_from_its_first_command(run_plan: Any,
                                                                 tmp_path: Path) -> None:
    plan = build_plan([sh("quick", "true"), sh("slow", "sleep 20"), sh("after", "touch after")],
                      chain("quick", "slow", "after"), workflow={"phase_timeouts": {"main": 0.8}})
    started = time.monotonic()
    outcome, _, _ = run_plan(plan, executor="inline")
    assert time.monotonic() - started < 10
    assert [f["node"] for f in outcome.failed] == ["slow"]
    assert "timed out" in outcome.failed[0]["message"]
    assert not (tmp_path / "after").exists()


@pytest.mark.parametrize(("attempts", "runs", "handled"), [(3, 3, 2), (1, 1, 1)])
def test_on_failure_runs_between_attempts_not_after_the_last(
        run_plan: Any, tmp_path: Path, attempts: int, runs: int, handled: int) -> None:
    from prodigy.compiler.pipeline import compile_file

    (tmp_path / "wf.yml").write_text(
        "commands:\n"
        "  - shell: \"echo run >> runs; false\"\n"
        f"    on_failure: {{shell: \"echo fix >> fixes\", max_attempts: {attempts}}}\n"
        "  - shell: \"touch after\"\n")
    outcome, events, _ = run_plan(compile_file(str(tmp_path / "wf.yml")))
    # Upstream's retry loop: N attempts, N-1 handler runs; with no retries, the handler once.
    assert (tmp_path / "runs").read_text() == "run\n" * runs
    assert (tmp_path / "fixes").read_text() == "fix\n" * handled
    assert outcome.status is ok and (tmp_path / "after").exists()
    [finished] = [e for e in events if e["event"] == "node_finished"
                  and e.get("status") == "handled"]
    assert finished["attempts"] == runs


def test_a_step_after_a_retried_one_sees_its_last_output(run_plan: Any, tmp_path: Path) -> None:
    # What a node depending on `n` alone sees is merged once and shared; `n`'s second attempt
    # replaces it. Here the exit-code body saw the first attempt, the next step the second.
    show = tpl("echo ", var("shell", "output"))  # the value ends its line: no redirection
    plan = build_plan(
        [sh("n", "echo x >> tries; c=$(wc -l < tries); echo out$c; test $c -ge 2",
            on_exit_code={"1": "e"}),
         ("h", "handler", {"max_attempts": 2}), sh("fix", "true"), sh("e", show),
         sh("next", show)],
        [("n", "h", "on_failure"), ("h", "fix", "sequence"), ("n", "e", "on_exit_code"),
         ("n", "e", "data"), ("n", "next", "sequence")])
    outcome, events, _ = run_plan(plan)
    assert outcome.status is ok
    said = {e["node"]: e["output"] for e in events_of(events, "node_finished")
            if e["node"] in ("e", "next")}
    assert said == {"e": "out1", "next": "out2"}
