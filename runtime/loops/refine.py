"""Bounded refinement loops: `validate` and `goal_seek` (measure, and refine while short).

validate: run the `commands` sub-plan (if any; each command limited to the validation
`timeout`, with PRODIGY_VALIDATION=true), read the result from `result_file` (relative to the
node's directory) or else the last command's stdout (scores.py), and publish it as
`validation`. Below `threshold`, run `on_incomplete` (seeing `${validation.*}`, also exported
as PRODIGY_VAR_validation) and measure again, up to `max_attempts` refinements. A failing
validation command counts as a failed measurement (0%); a failing on_incomplete ends the
loop. Still short at the end: the node fails with "Validation failed after N attempts.
Completion: X%" when `fail_workflow`, else succeeds with `validation.passed` false. `prompt`
(an interactive confirmation upstream) is written to the log: runs here never wait for input.

goal_seek: run the `attempt` sub-plan, then the `validate` command (its output scored by
scores.py), until the score reaches `threshold`, `max_attempts` attempts ran, or the
scores converge (the last three within 2 points). Attempts after the first see the previous
measurement as PRODIGY_VALIDATION_SCORE / _OUTPUT / _GAPS and `${validation.score}`,
`${validation.output}`, `${validation.gaps}`. A failing attempt fails the node. Short of the
threshold at the end: the node fails if `fail_on_incomplete`, else succeeds. It publishes
`goal_seek.score`, `.scores`, `.attempts`, `.status` (complete | incomplete | converged).

Both checkpoint each measurement (an item record per attempt number) and run their frames
checkpointed node by node, so a resumed loop replays what it measured instead of measuring
a later state of the files again, and does not call Claude twice for one attempt.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from prodigy.runtime.decide import checkpoint_key
from prodigy.runtime.events import EventType
from prodigy.runtime.frame import Frame
from prodigy.runtime.loops.base import Loop, outcome_of
from prodigy.runtime.loops.scores import converged, parse_score, parse_validation, shown
from prodigy.runtime.ops import NodeResult, Prepared
from prodigy.runtime.store import ItemRecord, ItemStatus

if TYPE_CHECKING:
    from prodigy.runtime.run import Run

OUTPUT_ENV_CAP = 16 * 1024  # PRODIGY_VALIDATION_OUTPUT: the tail of the scoring output


class Refinement(Loop):
    """What both loops share: numbered measurements, checkpointed as item records."""

    kind = ""

    def __init__(self, host: Run, frame: Frame, node_id: str, prepared: Prepared) -> None:
        super().__init__(host, frame, node_id, prepared)
        self.attempt = 0
        self.phase = ""

    def _key(self, attempt: int) -> str:
        return checkpoint_key(self.kind, {"attempt": attempt}, {"@loop": self.key})

    def recorded(self, attempt: int) -> dict[str, Any] | None:
        if self.forced or self.fresh:
            return None
        record = self.host.store.get_item(self.host.run_id, self.gid, attempt)
        return record.result if record is not None and record.key == self._key(attempt) \
            else None

    def remember(self, attempt: int, result: dict[str, Any]) -> None:
        self.host.writes.append(ItemRecord(self.gid, attempt, self._key(attempt),
                                           ItemStatus.SUCCEEDED, result, time.time()))

    def timeouts(self) -> dict[str, float]:
        limit = self.params.timeout_s
        return {"*": float(limit)} if limit else {}


class ValidateLoop(Refinement):
    kind = "validate"

    def __init__(self, host: Run, frame: Frame, node_id: str, prepared: Prepared) -> None:
        super().__init__(host, frame, node_id, prepared)
        self.refinements = 0
        self.validation: dict[str, Any] = {}

    def begin(self) -> None:
        if self.params.prompt is not None:
            self.note("validate: prompt not shown (runs are non-interactive)")
        self._measure()

    def _measure(self) -> None:
        self.attempt += 1
        replay = self.recorded(self.attempt)
        if replay is not None:
            self._judge(replay)
        elif self.params.commands:
            self.phase = "measure"
            self.spawn(self.params.commands, f"v{self.attempt}", {}, checkpoint=True,
                       timeouts=self.timeouts(), env={"PRODIGY_VALIDATION": "true"})
        else:
            self._evaluate("", True)

    def frame_finished(self, frame: Frame) -> None:
        super().frame_finished(frame)
        outcome = outcome_of(frame)
        if outcome.interrupted or self.stopping:
            self.check_stopped()
            return
        if self.phase == "refine":
            if not outcome.ok:
                self._short(f"on_incomplete failed at {outcome.label}: {outcome.message}")
            else:
                self._measure()
            return
        if not outcome.ok:
            self.note(f"validation command failed at {outcome.label}: {outcome.message}")
            self._evaluate("", False)
            return
        last = [n for n in frame.tpl.graph.order if n in frame.results]
        text = ""
        if last:
            result = frame.results[last[-1]]
            kind = frame.tpl.nodes[last[-1]].kind
            text = str(result.variables.get(f"{kind}.output", result.output) or "")
        self._evaluate(text, True)

    def _evaluate(self, stdout: str, succeeded: bool) -> None:
        text = stdout
        source = self.inputs.get("result_file")
        if source and succeeded:
            path = self.cwd / source
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                self.note(f"validation result_file {source}: {exc.strerror or exc}")
                text, succeeded = "", False
        schema = self.params.expected_schema
        result = parse_validation(text, succeeded, self.attempt, float(self.params.threshold),
                                  schema)
        self.remember(self.attempt, result)
        self._judge(result)

    def _judge(self, result: dict[str, Any]) -> None:
        self.validation = result
        threshold = float(self.params.threshold)
        self.host.events.emit(EventType.ATTEMPT_SCORED, node=self.gid, kind=self.kind,
                              attempt=self.attempt, completion=result["completion"],
                              threshold=shown(threshold), status=result["status"])
        self.note(f"validation attempt {self.attempt}: {result['completion']}% "
                  f"(threshold {shown(threshold)}%), status {result['status']}")
        if result["passed"]:
            self.finish(True, "", self._published(), self._line())
        elif self.params.on_incomplete and self.refinements < self.params.max_attempts:
            self.refinements += 1
            self.phase = "refine"
            self.spawn(self.params.on_incomplete, f"r{self.refinements}",
                       {"validation": result}, checkpoint=True,
                       outer={"validation": result})
        else:
            self._short("")

    def _short(self, why: str) -> None:
        completion = self.validation.get("completion", 0)
        message = (f"Validation failed after {self.attempt} attempts. Completion: "
                   f"{completion}%" + (f" ({why})" if why else ""))
        self.note(message)
        self.finish(not self.params.fail_workflow, message if self.params.fail_workflow
                    else "", self._published(), self._line())

    def _published(self) -> dict[str, Any]:
        return {"validation": self.validation, "validation.attempts": self.attempt}

    def _line(self) -> str:
        return f"validation: {self.validation.get('completion', 0)}% " \
               f"({self.validation.get('status', '')})"


class GoalSeekLoop(Refinement):
    kind = "goal_seek"

    def __init__(self, host: Run, frame: Frame, node_id: str, prepared: Prepared) -> None:
        super().__init__(host, frame, node_id, prepared)
        self.scores: list[float] = []
        self.last: dict[str, Any] = {}

    def begin(self) -> None:
        self.note(f"goal: {self.params.goal}")
        self._attempt()

    def _attempt(self) -> None:
        self.attempt += 1
        loop_vars: dict[str, Any] = {}
        env: dict[str, str] = {}
        if self.last:
            loop_vars["validation"] = {**self.last, "attempt": self.attempt}
            env = {"PRODIGY_VALIDATION_SCORE": str(shown(self.last["score"])),
                   "PRODIGY_VALIDATION_OUTPUT": self.last["output"][-OUTPUT_ENV_CAP:],
                   "PRODIGY_VALIDATION_GAPS": json.dumps(self.last["gaps"])}
        self.phase = "attempt"
        self.spawn(self.params.attempt, f"a{self.attempt}", loop_vars, checkpoint=True,
                   timeouts=self.timeouts(), env=env)

    def frame_finished(self, frame: Frame) -> None:
        super().frame_finished(frame)
        outcome = outcome_of(frame)
        if outcome.interrupted or self.stopping:
            self.check_stopped()
            return
        if not outcome.ok:
            message = f"goal_seek attempt {self.attempt} failed at {outcome.label}: " \
                      f"{outcome.message}"
            self.note(message)
            self.finish(False, message, self._published("failed"), outcome.failed_output)
            return
        replay = self.recorded(self.attempt)
        if replay is not None:
            self._judge(replay)
            return
        self.phase = "score"
        self.note(f"$ {self.inputs['validate']}   # score attempt {self.attempt}")
        self.run_shell("score", self.inputs["validate"], self.params.timeout_s,
                       env={"PRODIGY_VALIDATION": "true"})

    def aux_finished(self, tag: str, result: NodeResult) -> None:
        super().aux_finished(tag, result)
        if self.stopping:
            self.check_stopped()
            return
        output = str(result.variables.get("stdout") or result.output or "")
        score, gaps = parse_score(output)
        measured = {"score": score, "output": output[-OUTPUT_ENV_CAP:], "gaps": gaps}
        self.remember(self.attempt, measured)
        self._judge(measured)

    def _judge(self, measured: dict[str, Any]) -> None:
        self.last = measured
        score = float(measured["score"])
        self.scores.append(score)
        threshold = float(self.params.threshold)
        self.host.events.emit(EventType.ATTEMPT_SCORED, node=self.gid, kind=self.kind,
                              attempt=self.attempt, score=shown(score),
                              threshold=shown(threshold))
        self.note(f"attempt {self.attempt}: score {shown(score)} (threshold {shown(threshold)})")
        if score >= threshold:
            self._end("complete")
        elif self.attempt >= self.params.max_attempts:
            self._end("incomplete")
        elif converged(self.scores):
            self._end("converged")
        else:
            self._attempt()

    def _end(self, status: str) -> None:
        line = (f"goal_seek {status} after {self.attempt} attempts: score "
                f"{shown(self.scores[-1])} (threshold {shown(float(self.params.threshold))})")
        self.note(line)
        failed = status != "complete" and self.params.fail_on_incomplete
        self.finish(not failed, line if failed else "", self._published(status), line)

    def _published(self, status: str) -> dict[str, Any]:
        score = shown(self.scores[-1]) if self.scores else 0
        return {"goal_seek.score": score, "goal_seek.scores": [shown(s) for s in self.scores],
                "goal_seek.attempts": self.attempt, "goal_seek.status": status,
                "goal_seek.goal": self.params.goal}

