"""Check loaded workflow data against schemas/workflow.schema.json, as positioned diagnostics.

jsonschema's own messages are written for schema authors ("'x' is not valid under any of the
given schemas"); users get one plain sentence per problem instead, naming the key path and
pointing at the offending key or value:

- an unknown key is P110 at the key, with a "did you mean" from the keys allowed there;
- a oneOf/anyOf failure is collapsed to the branch the value was evidently meant for (the one
  whose type matched), or to one sentence built from the schema's `x-accepts` text;
- the "exactly one command per step" rule (marked `x-rule: one-command` in the schema, so editors
  enforce it too) is reported here as P114/P115 with the command keys named.

The schema carries non-standard keywords that validators ignore: `x-accepts` (what a value may
be, in words), `x-message`/`x-code`/`x-hint` (the diagnostic for a rule), `x-rule`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from itertools import islice
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from prodigy.compiler.commands.registry import COMMAND_KEYS
from prodigy.compiler.resources import schema
from prodigy.compiler.schema_messages import (
    TYPE_WORDS,
    closest,
    got,
    key_hint,
    path_text,
    shown,
    step_name,
    type_hint,
    where,
)
from prodigy.compiler.source import DataPath, SourceMap
from prodigy.runtime.diagnostics import Diagnostic, sorted_unique

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

__all__ = ["check_schema", "error_paths", "is_valid", "path_text"]


# Schema errors translated per file. jsonschema takes milliseconds per error (it explains every
# branch of an anyOf), so 100,000 broken steps took minutes; past this the check stops.
MAX_ERRORS = 200


@cache
def _fast_validator() -> Any:
    # jsonschema-rs answers "valid or not" ~1000x faster than the pure-Python validator (2 ms
    # for a 100,000-item foreach instead of 2.5 s) and imports in a quarter of the time; valid
    # workflows, the common case, never touch the slow validator. Only its verdict is used:
    # the diagnostics come from jsonschema's error tree, which our translation is built on.
    return jsonschema_rs.validator_for(schema("workflow.schema.json"))


@cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    # Built once: compiling the schema's $refs costs more than validating a workflow.
    return Draft202012Validator(schema("workflow.schema.json"))


def check_schema(data: object, source_map: SourceMap) -> list[Diagnostic]:
    """Every schema violation in `data`, one diagnostic each, sorted by position."""
    if is_valid(data):
        return []
    try:
        errors = list(islice(_validator().iter_errors(data), MAX_ERRORS + 1))
        found = [diag for err in errors[:MAX_ERRORS] for diag in _translate(err, source_map)]
        if len(errors) > MAX_ERRORS:
            found.append(Diagnostic(
                "P105", f"more than {MAX_ERRORS} values break the schema; the rest of the "
                "file is not checked", source_map.span(())))
    except (RecursionError, TypeError, ValueError) as exc:
        # Only pathological data gets here (nesting beyond Python's stack, non-JSON values).
        reason = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        found = [Diagnostic("P116", f"the workflow cannot be checked: {reason}",
                            source_map.span(()))]
    return sorted_unique(_one_per_value(found))


def is_valid(data: object) -> bool:
    """Whether `data` is a workflow the schema accepts (the fast validator's verdict)."""
    try:
        return bool(_fast_validator().is_valid(data))
    except (RecursionError, TypeError, ValueError):
        return False


def error_paths(data: object) -> list[DataPath]:
    """Where `data` breaks the schema: the path of each value at fault, and of each unknown key
    (an additionalProperties error sits at the mapping, but only the key is wrong)."""
    try:
        errors = list(islice(_validator().iter_errors(data), MAX_ERRORS + 1))
    except (RecursionError, TypeError, ValueError):
        return [()]
    if len(errors) > MAX_ERRORS:
        return [()]  # too broken to prune step by step: nothing after the schema runs
    paths: list[DataPath] = []
    for err in errors:
        path: DataPath = tuple(err.absolute_path)
        sub: dict[str, Any] = err.schema if isinstance(err.schema, dict) else {}
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = set(sub.get("properties", {}))
            patterns = list(sub.get("patternProperties", {}))
            paths.extend((*path, key) for key in err.instance if key not in allowed and not any(
                isinstance(key, str) and re.search(p, key) for p in patterns))
        elif "propertyNames" in err.schema_path:
            paths.append((*path, str(err.instance)))
        else:
            paths.append(path)
    return paths


# A value that breaks several rules at once (`mode: 123` is neither a string nor an allowed
# mode) is reported once, by the most basic rule: its type, then its allowed values.
_VALUE_CODES = ("P111", "P113", "P116")


def _one_per_value(found: list[Diagnostic]) -> list[Diagnostic]:
    best: dict[object, Diagnostic] = {}
    kept: list[Diagnostic] = []
    for diag in found:
        if diag.code not in _VALUE_CODES:
            kept.append(diag)
            continue
        seen = best.get(diag.span)
        if seen is None or _VALUE_CODES.index(diag.code) < _VALUE_CODES.index(seen.code):
            best[diag.span] = diag
    return kept + list(best.values())


def _translate(err: ValidationError, smap: SourceMap) -> Iterator[Diagnostic]:
    sub: dict[str, Any] = err.schema if isinstance(err.schema, dict) else {}
    path: DataPath = tuple(err.absolute_path)
    at = where(path)
    if sub.get("x-rule") == "one-command":
        yield from _command_rule(err.instance, path, smap)
    elif "x-message" in sub:
        message = str(sub["x-message"]).replace("`{path}`", at)
        hint = sub.get("x-hint")
        yield Diagnostic(str(sub.get("x-code", "P116")), message, smap.span(path),
                         hint=str(hint) if hint else None)
    elif "propertyNames" in err.schema_path:
        # propertyNames errors carry the key itself as the instance, at the object's path.
        yield Diagnostic(str(sub.get("x-code", "P116")), f"{shown(err.instance)} is not a valid "
                         f"key in {at}: keys here "
                         f"must be {sub.get('x-accepts') or 'exit codes'}",
                         smap.key_span((*path, str(err.instance))),
                         hint=str(sub["x-hint"]) if sub.get("x-hint") else None)
    elif err.validator == "additionalProperties":
        yield from _unknown_keys(err, sub, path, smap)
    elif err.validator == "required" and isinstance(err.instance, dict):
        for key in err.validator_value:
            if key not in err.instance:
                yield Diagnostic("P112", f"{at} is missing the required key `{key}`",
                                 smap.key_span(path), hint=f"add `{key}:` to {at}")
    elif err.validator == "type":
        yield _type_error(err, sub, path, smap)
    elif err.validator in ("enum", "const"):
        allowed = err.validator_value if err.validator == "enum" else [err.validator_value]
        words = ", ".join(str(v) for v in allowed)
        yield Diagnostic("P113", f"{at} must be one of: {words} (got {shown(err.instance)})",
                         smap.span(path), hint=f"use one of: {words}")
    elif err.validator in ("oneOf", "anyOf"):
        yield from _collapse(err, sub, path, smap)
    else:
        hint = f"use a value of at least {err.validator_value}" \
            if err.validator == "minimum" else f"use a value greater than {err.validator_value}" \
            if err.validator == "exclusiveMinimum" else _described(sub)
        yield Diagnostic("P116", _limit_message(err, sub, at), smap.span(path), hint=hint)


def _described(sub: dict[str, Any]) -> str | None:
    # The schema's description says what the key is for: the most useful fallback hint.
    text = sub.get("description")
    return str(text) if text else None


def _type_error(err: ValidationError, sub: dict[str, Any], path: DataPath,
                smap: SourceMap) -> Diagnostic:
    accepts = sub.get("x-accepts")
    if not accepts:
        types = err.validator_value
        names = types if isinstance(types, list) else [types]
        accepts = " or ".join(TYPE_WORDS.get(str(t), str(t)) for t in names)
    hint = type_hint(str(accepts), err.instance) or _described(sub)
    return Diagnostic("P111", f"{where(path)} must be {accepts}, not {got(err.instance)}",
                      smap.span(path), hint=hint)


def _limit_message(err: ValidationError, sub: dict[str, Any], at: str) -> str:
    value, limit = err.instance, err.validator_value
    if err.validator == "minimum":
        return f"{at} must be at least {limit} (got {shown(value)})"
    if err.validator == "exclusiveMinimum":
        return f"{at} must be greater than {limit} (got {shown(value)})"
    if err.validator == "maximum":
        return f"{at} must be at most {limit} (got {shown(value)})"
    if err.validator == "minLength":
        return f"{at} must not be empty"
    if err.validator in ("minProperties", "maxProperties"):
        return f"{at} must be {sub.get('x-accepts') or 'a mapping with exactly one key'}"
    if err.validator == "pattern" and sub.get("x-accepts"):
        return f"{at} must be {sub['x-accepts']} (got {shown(value)})"
    return f"{at} is not valid: {err.message}"


def _unknown_keys(err: ValidationError, sub: dict[str, Any], path: DataPath,
                  smap: SourceMap) -> Iterator[Diagnostic]:
    allowed = sorted(sub.get("properties", {}))
    patterns = list(sub.get("patternProperties", {}))
    if not path:
        place = "at the top level"
    elif isinstance(path[-1], int):
        place = f"in {step_name(path)}"
    else:
        place = f"in {where(path)}"
    for key in err.instance if isinstance(err.instance, dict) else {}:
        if key in allowed or any(isinstance(key, str) and re.search(p, key) for p in patterns):
            continue
        yield Diagnostic("P110", f"unknown key `{key}` {place}", smap.key_span((*path, key)),
                         hint=key_hint(str(key), allowed, path))


def _command_rule(step: object, path: DataPath, smap: SourceMap) -> Iterator[Diagnostic]:
    if not isinstance(step, dict):
        return
    present = [key for key in step if key in COMMAND_KEYS]
    name = step_name(path)
    if len(present) >= 2:
        named = " and ".join(f"`{key}`" for key in present)
        yield Diagnostic("P115", f"{name} has several commands ({named}); a step runs exactly "
                         "one", smap.key_span((*path, present[1])),
                         hint="split it into one step per command, or chain them with "
                         "`on_success:`")
        return
    # A misspelt command key (`shel:`) is already reported as P110 with a "did you mean";
    # saying "no command" on top of it would only repeat the same problem.
    if any(key not in COMMAND_KEYS and closest(str(key), COMMAND_KEYS) for key in step):
        return
    yield Diagnostic("P114", f"{name} has no command", smap.span(path),
                     hint="give it one of: " + ", ".join(COMMAND_KEYS) + ", or validate")


def _collapse(err: ValidationError, sub: dict[str, Any], path: DataPath,
              smap: SourceMap) -> Iterator[Diagnostic]:
    """One diagnostic for a failed oneOf/anyOf: the branch the value meant, or a summary."""
    accepts = sub.get("x-accepts") or "one of the accepted forms"
    at = where(path)
    branches: dict[object, list[ValidationError]] = defaultdict(list)
    for sub_err in err.context or ():
        branches[sub_err.relative_schema_path[0]].append(sub_err)
    if not branches:  # a oneOf that several branches matched
        yield Diagnostic("P116", f"{at} is ambiguous: it fits several forms of {accepts}",
                         smap.span(path))
        return

    def type_matched(errs: list[ValidationError]) -> bool:
        return not any(e.validator == "type" and not e.relative_path for e in errs)

    def depth(errs: list[ValidationError]) -> int:
        return max(len(e.relative_path) for e in errs)

    def self_explaining(errs: list[ValidationError]) -> bool:
        # A bare regex failure says nothing a user can act on; the summary below does.
        return depth(errs) > 0 or all(
            e.validator != "pattern" or (isinstance(e.schema, dict) and "x-accepts" in e.schema)
            for e in errs)

    candidates = [errs for errs in branches.values() if type_matched(errs)]
    if candidates:
        best = max(candidates, key=lambda errs: (depth(errs), -len(errs)))
        if (len(candidates) == 1 or depth(best) > 0) and self_explaining(best):
            for sub_err in best:
                yield from _translate(sub_err, smap)
            return
    validators = {e.validator for errs in branches.values() for e in errs}
    if not candidates:
        code, text = "P111", f"{at} must be {accepts}, not {got(err.instance)}"
    elif validators <= {"required"}:
        code, text = "P112", f"{at} is incomplete: it must be {accepts}"
    elif "enum" in validators:
        code, text = "P113", f"{at} must be {accepts} (got {shown(err.instance)})"
    else:
        code, text = "P116", f"{at} must be {accepts} (got {shown(err.instance)})"
    yield Diagnostic(code, text, smap.span(path), hint=_described(sub))
