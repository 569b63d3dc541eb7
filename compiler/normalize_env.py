"""Normalization of the workflow environment: env, secrets, profiles, parameters and --arg.

Decisions:
- Scalar env values keep their source text (`WORKERS: 4` is "4", `DEBUG: true` is "true").
- A secret never reaches a plan as a value: secrets are references (an environment variable
  name or a provider key; `{secret: true, value: "${GITHUB_TOKEN}"}` reads GITHUB_TOKEN), and
  a secret written into the workflow is P117.
- The active profile (`--profile`, else `active_profile:`) is applied here, on top of `env`,
  and per-profile values (`{default: x, production: y}`) are resolved; later stages see one env.
- `--arg NAME=VALUE` binds NAME; `--args V` arrives as ARG=V. ARG and ARG_1 stand for each other,
  ARG_N also binds the positional `$N`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from prodigy.compiler.model import Text
from prodigy.compiler.model_workflow import (
    EnvCommand,
    EnvCondition,
    EnvSecretRef,
    EnvText,
    EnvValue,
    EnvVar,
    Parameter,
    Profile,
)
from prodigy.compiler.normalize_base import Ctx, Fields, scalar_text
from prodigy.runtime.diagnostics import Diagnostic
from prodigy.runtime.span import Span

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ENV_REF = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)\}\Z|\$([A-Za-z_][A-Za-z0-9_]*)\Z")
_TYPES = {"string": "string", "number": "number", "integer": "integer", "boolean": "boolean",
          "array": "array", "object": "object", "any": "any"}


@dataclass(frozen=True, slots=True)
class Environment:
    env: tuple[EnvVar, ...]
    secrets: tuple[EnvVar, ...]
    profiles: tuple[Profile, ...]
    profile: str | None


def environment(fields: Fields, profile: str | None) -> Environment:
    ctx = fields.ctx
    profiles = _profiles(fields)
    active = profile
    if active is None and fields.has("active_profile"):
        active = fields.string("active_profile")
    if active is not None and active not in {p.name for p in profiles}:
        known = ", ".join(p.name for p in profiles) or "none"
        # From --profile there is no YAML to point at but the `profiles:` key (or the file).
        if profile is None:
            span = fields.value_span("active_profile")
        elif fields.has("profiles"):
            span = ctx.source_map.key_span((*fields.at("profiles"),))
        else:
            span = ctx.source_map.span(())
        ctx.diagnostics.append(_unknown_profile(active, known, span))
        active = None
    env: dict[str, EnvVar] = {}
    raw = fields.get("env")
    for name, value in (raw.items() if isinstance(raw, Mapping) else ()):
        found = env_value(value, (*fields.at("env"), name), ctx, active)
        if found is not None:
            env[str(name)] = EnvVar(str(name), found, ctx.span((*fields.at("env"), name)))
    for chosen in profiles:
        if chosen.name == active:
            env.update((var.name, var) for var in chosen.env)
    return Environment(tuple(env.values()), _secrets(fields), profiles, active)


def _unknown_profile(name: str, known: str, span: Span | None) -> Diagnostic:
    return Diagnostic("P502", f"unknown profile '{name}'", span,
                      hint=f"the workflow defines these profiles: {known}")


def _profiles(fields: Fields) -> tuple[Profile, ...]:
    raw = fields.get("profiles")
    found: list[Profile] = []
    for name, body in (raw.items() if isinstance(raw, Mapping) else ()):
        if not isinstance(body, Mapping):
            continue
        path = (*fields.at("profiles"), name)
        entry = Fields(body, path, "profile", fields.ctx)
        values = []
        for key, value in body.items():
            if key == "description":
                continue
            found_value = env_value(value, (*path, key), fields.ctx, str(name))
            if found_value is not None:
                values.append(EnvVar(str(key), found_value, fields.ctx.span((*path, key))))
        found.append(Profile(str(name), entry.string("description"), tuple(values), entry.span))
    return tuple(found)


def env_value(value: object, path: tuple[str | int, ...], ctx: Ctx,
              profile: str | None) -> EnvValue | None:
    """One env value in any form; `{default: x, <profile>: y}` picks the active profile's."""
    if not isinstance(value, Mapping):
        return EnvText(scalar_text(value, path, ctx))
    fields = Fields(value, path, "envValueObject", ctx)
    secret = fields.flag("secret", False)
    if fields.has("default"):
        key = profile if profile is not None and profile in value else "default"
        chosen = env_value(value[key], (*path, key), ctx, profile)
        if secret and isinstance(chosen, EnvText):
            return _secret_text(chosen.text, ctx)
        return chosen
    if secret and (fields.has("command") or fields.has("condition")):
        ctx.error("P119", "a computed or conditional value cannot be a secret", fields.span,
                  hint="put the secret under `secrets:` and read it from the environment")
        return None
    if fields.has("provider") or fields.has("key"):
        return EnvSecretRef(fields.string("provider") or "env", fields.string("key") or "",
                            fields.string("version"))
    if fields.has("command"):
        command = fields.text("command")
        assert command is not None
        return EnvCommand(command, fields.flag("cache", False))
    if fields.has("condition"):
        condition = fields.text("condition")
        assert condition is not None
        empty = Text("", fields.span)
        return EnvCondition(condition, fields.text("when_true") or empty,
                            fields.text("when_false") or empty)
    text = fields.text("value")
    if text is None:
        ctx.error("P112", "this env value has no `value:` (or `command:`, `condition:`)",
                  fields.span, hint="add `value: ...`")
        return None
    return _secret_text(text, ctx) if secret else EnvText(text)


def _secret_text(text: Text, ctx: Ctx) -> EnvValue | None:
    """`{secret: true, value: "${TOKEN}"}`: the value must name where the secret comes from."""
    match = _ENV_REF.match(text.value.strip())
    if match is None:
        ctx.error("P117", "a secret's value must be one environment variable reference",
                  text.span, hint="read it from the environment: `value: \"${TOKEN}\"`")
        return None
    return EnvSecretRef("env", match.group(1) or match.group(2), None)


def _secrets(fields: Fields) -> tuple[EnvVar, ...]:
    """`secrets: {NAME: ENV_VAR}` or `{NAME: {provider, key, version}}`; only names are kept."""
    raw = fields.get("secrets")
    found: list[EnvVar] = []
    for name, value in (raw.items() if isinstance(raw, Mapping) else ()):
        path = (*fields.at("secrets"), name)
        span = fields.ctx.span(path)
        secret: EnvValue | None = None
        if isinstance(value, str):
            match = _ENV_REF.match(value.strip())
            if _ENV_NAME.match(value):
                secret = EnvSecretRef("env", value, None)
            elif match:
                secret = EnvSecretRef("env", match.group(1) or match.group(2), None)
            else:
                fields.ctx.error("P113", f"secret '{name}' should name an environment "
                                 f"variable, not {value!r}", span,
                                 hint="write `NAME: ENV_VAR` or `NAME: {provider: env, key: VAR}`")
        elif isinstance(value, Mapping):
            entry = Fields(value, path, "secretValue", fields.ctx)
            if entry.has("value"):
                text = entry.text("value")
                assert text is not None
                secret = _secret_text(text, fields.ctx)
            else:
                secret = EnvSecretRef(entry.string("provider") or "env", entry.string("key") or "",
                                      entry.string("version"))
        if secret is not None:
            found.append(EnvVar(str(name), secret, span))
    return tuple(found)


# ------------------------------------------------------------------- parameters and args


def parameters(fields: Fields) -> tuple[Parameter, ...]:
    """`parameters:` as a mapping, a list, or `{required: [...], optional: [...]}` lists."""
    raw = fields.get("parameters")
    path = fields.at("parameters")
    ctx = fields.ctx
    entries: list[tuple[object, tuple[str | int, ...], str | None, bool | None]] = []
    if isinstance(raw, list):
        entries = [(v, (*path, i), None, None) for i, v in enumerate(raw)]
    elif isinstance(raw, Mapping):
        groups = Fields(raw, path, "parameters", ctx)
        for group, required in (("required", True), ("optional", False)):
            items = groups.get(group)
            if isinstance(items, list):
                entries += [(v, (*path, group, i), None, required) for i, v in enumerate(items)]
        entries += [(v, (*path, k), str(k), None) for k, v in raw.items()
                    if k not in ("required", "optional")]
    found = (_parameter(value, where, name, required, ctx)
             for value, where, name, required in entries)
    return tuple(p for p in found if p is not None)


def _parameter(value: object, path: tuple[str | int, ...], name: str | None,
               required: bool | None, ctx: Ctx) -> Parameter | None:
    # A parameter's diagnostics point at its name: the key it is declared under, else the
    # string naming it, else its `name:` (below).
    span = ctx.source_map.key_span(path) if name is not None else ctx.span(path)
    if isinstance(value, str):
        if name is None:  # a bare name in a `required:`/`optional:` list
            return Parameter(value, "any", bool(required), None, None, None, span)
        kind = _TYPES.get(value.lower())
        return Parameter(name, kind or "any", bool(required), None, None,
                         None if kind else value, span)
    if not isinstance(value, Mapping):
        return None
    fields = Fields(value, path, "parameter", ctx)
    name = fields.string("name") or name
    if name is None:
        return None
    if fields.has("name"):
        span = fields.value_span("name")
    default = fields.text("default") if fields.has("default") else None
    return Parameter(
        name=name,
        type=_TYPES.get((fields.string("type") or "any").lower(), "any"),
        required=fields.flag("required", bool(required)) and default is None,
        default=default.value if default is not None else None,
        validation=fields.string("validation"),
        description=fields.string("description"),
        span=span,
    )


def bind_args(args: Mapping[str, str] | None, params: tuple[Parameter, ...],
              defaults: Mapping[str, str], ctx: Ctx) -> tuple[tuple[str, str], ...]:
    bound: dict[str, str] = dict(defaults)
    bound.update((p.name, p.default) for p in params if p.default is not None)
    bound.update(args or {})
    if "ARG" in bound and "ARG_1" not in bound:
        bound["ARG_1"] = bound["ARG"]
    if "ARG_1" in bound and "ARG" not in bound:
        bound["ARG"] = bound["ARG_1"]
    for name in list(bound):
        match = re.fullmatch(r"ARG_([0-9]+)", name)
        if match and match.group(1) not in bound:
            bound[match.group(1)] = bound[name]
    for param in params:
        value = bound.get(param.name)
        if value is None:
            if param.required:
                ctx.missing("P503", f"parameter '{param.name}' has no value", param.span,
                            hint=f"pass it with `--arg {param.name}=VALUE`")
            continue
        problem = _type_problem(param, value)
        if problem:
            ctx.error("P504", f"parameter '{param.name}' = {value!r} {problem}", param.span)
    return tuple(sorted(bound.items()))


def _type_problem(param: Parameter, value: str) -> str | None:
    checks = {
        "integer": lambda v: re.fullmatch(r"[-+]?[0-9]+", v.strip()) is not None,
        "number": lambda v: re.fullmatch(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?",
                                         v.strip()) is not None,
        "boolean": lambda v: v.strip().lower() in ("true", "false"),
    }
    check = checks.get(param.type)
    if check is not None and not check(value):
        return f"is not {'an' if param.type == 'integer' else 'a'} {param.type}"
    if param.validation:
        try:
            if re.fullmatch(param.validation, value) is None:
                return f"does not match `{param.validation}`"
        except re.error:
            return None
    return None


def literal_values(env: tuple[EnvVar, ...]) -> dict[str, str]:
    """Env values known at compile time, for numeric settings such as `max_parallel: ${N}`
    (a value that itself holds a variable is kept as written, and reported if used)."""
    return {var.name: var.value.text.value for var in env if isinstance(var.value, EnvText)}
