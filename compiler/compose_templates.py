"""Templates and parameters for composition: where a template is found, what it declares, and
whether a `with:` value fits.

A template is a workflow file. `template: NAME` (or `{source: NAME}`) names one; the places it
is looked for, in order (the first file found wins): `.prodigy/templates/`, `templates/` (both
in the current directory, the project) and `$PRODIGY_HOME/templates/` (default
`~/.prodigy/templates/`), as `NAME.yml` or `NAME.yaml`. A source with a `/` or a `.yml` ending is
a path, relative to the file that names it. `prodigy template list|show` reads the same places.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prodigy.compiler.source_map import DataPath


def template_dirs() -> tuple[Path, ...]:
    home = Path(os.environ.get("PRODIGY_HOME") or Path.home() / ".prodigy").expanduser()
    return (Path(".prodigy/templates"), Path("templates"), home / "templates")


def is_path(source: str) -> bool:
    return "/" in source or source.endswith((".yml", ".yaml"))


def find_template(name: str) -> tuple[Path | None, tuple[Path, ...]]:
    """The template file for `name` and the places looked in (for the error when none is)."""
    looked = tuple(d / f"{name}{ext}" for d in template_dirs() for ext in (".yml", ".yaml"))
    return next((p for p in looked if p.is_file()), None), looked


def all_templates() -> dict[str, Path]:
    """Every template the lookup can find, by name; a name found twice is the first one."""
    found: dict[str, Path] = {}
    for folder in template_dirs():
        if folder.is_dir():
            for path in sorted(folder.glob("*.y*ml")):
                if path.suffix in (".yml", ".yaml"):
                    found.setdefault(path.stem, path)
    return found


@dataclass(frozen=True, slots=True)
class ParamDecl:
    """One declared parameter, as composition needs it (normalize_env reads the full form)."""

    name: str
    type: str  # lower case; "any" when not given
    required: bool
    has_default: bool
    default: object
    description: str | None
    path: DataPath  # where it is declared, in its file


def declared(raw: object, at: DataPath) -> dict[str, ParamDecl]:
    """`parameters:` in any of its forms: `{NAME: {type, required, default, description}}`,
    `{NAME: VALUE}` (a sub-workflow's default value), a list of names or `{name: ...}`
    mappings, or `{required: [...], optional: [...]}`."""
    entries: list[tuple[object, DataPath, str | None, bool]] = []
    if isinstance(raw, list):
        entries = [(v, (*at, i), None, False) for i, v in enumerate(raw)]
    elif isinstance(raw, Mapping):
        grouped = {k: raw[k] for k in ("required", "optional") if isinstance(raw.get(k), list)}
        for group, items in grouped.items():
            entries += [(v, (*at, group, i), None, group == "required")
                        for i, v in enumerate(items)]
        entries += [(v, (*at, str(k)), str(k), False) for k, v in raw.items()
                    if k not in grouped]
    found: dict[str, ParamDecl] = {}
    for value, path, name, required in entries:
        if isinstance(value, Mapping):
            name = str(value.get("name") or name or "")
            kind = str(value.get("type") or "any").lower()
            has_default = "default" in value
            required = bool(value.get("required", required)) and not has_default
            description = value.get("description")
            decl = ParamDecl(name, kind, required, has_default, value.get("default"),
                             description if isinstance(description, str) else None, path)
        elif name is None:
            decl = ParamDecl(str(value), "any", required, False, None, None, path)
        else:
            decl = ParamDecl(name, "any", False, True, value, None, path)
        if decl.name:
            found[decl.name] = decl
    return found


_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str, int, float), "number": (int, float), "integer": (int,),
    "boolean": (bool,), "array": (list,), "object": (dict,),
}


def type_problem(decl: ParamDecl, value: object) -> str | None:
    """Why `value` (as YAML typed it) does not fit the parameter, or None."""
    accepted = _PYTHON_TYPES.get(decl.type)
    if accepted is None:
        return None
    if isinstance(value, bool) and decl.type != "boolean":
        fits = decl.type == "string"  # `true` given where a string is wanted reads as text
    else:
        fits = isinstance(value, accepted)
    if fits:
        return None
    article = "an" if decl.type[0] in "aeiou" else "a"
    return f"is not {article} {decl.type}"


def as_text(value: object) -> str:
    """A `with:` value as the text a `${NAME}` reference becomes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        import json

        return json.dumps(value)
    return "" if value is None else str(value)
