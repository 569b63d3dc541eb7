"""schemas/plan.schema.json's per-kind part is generated from runtime/nodes.py: it is current,
and the generator says what it cannot turn into a schema instead of guessing."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import pytest

from prodigy.runtime import plan_schema
from prodigy.runtime.errors import InternalError
from prodigy.runtime.nodes import Count, OptionalTemplate, Schema, StepParams, Template


def test_the_committed_plan_schema_is_the_generated_one() -> None:
    text, wanted = plan_schema.current_text()
    assert text == wanted, "schemas/plan.schema.json is not current: run `make schemas`"
    # Byte-stable: generating from the generated file gives it again.
    assert plan_schema.render(plan_schema.generate(json.loads(wanted))) == wanted


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PingParams(StepParams):
    """GET a URL.

    Not a real kind: the generator's input in these tests."""

    url: Template  # The URL (template).
    # How long to wait; a comment above the field and one on its line
    wait: Count | None = None  # are joined.
    method: Annotated[str, Schema(enum=("GET", "HEAD"))] = "GET"  # HTTP method.
    body: OptionalTemplate = None  # Request body (template), or null.
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)  # Header -> value.
    tags: tuple[str, ...] = ()  # Labels.


def test_a_step_kind_extends_step_params_and_closes_the_object() -> None:
    definition = plan_schema.params_definition(PingParams)
    assert definition == {
        "description": "GET a URL.",
        "type": "object",
        "allOf": [{"$ref": "#/$defs/stepParams"}],
        "required": ["url"],
        "properties": {
            "url": {"$ref": "#/$defs/template", "description": "The URL (template)."},
            "wait": {"type": ["integer", "null"], "minimum": 0, "default": None,
                     "description": "How long to wait; a comment above the field and one on "
                                    "its line are joined."},
            "method": {"enum": ["GET", "HEAD"], "default": "GET",
                       "description": "HTTP method."},
            "body": {"$ref": "#/$defs/optionalTemplate", "default": None,
                     "description": "Request body (template), or null."},
            "headers": {"type": "object", "additionalProperties": {"type": "string"},
                        "default": {}, "description": "Header -> value."},
            "tags": {"type": "array", "items": {"type": "string"}, "default": [],
                     "description": "Labels."},
        },
        "unevaluatedProperties": False,
    }


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class UndescribedParams(StepParams):
    """A field without a comment."""

    url: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LooseParams(StepParams):
    """A field of no JSON type."""

    payload: Any  # Anything at all.


@pytest.mark.parametrize(("cls", "message"), [
    (UndescribedParams, "UndescribedParams.url has no comment"),
    (LooseParams, "LooseParams.payload: no plan schema for the annotation"),
])
def test_what_the_generator_cannot_describe_is_an_error_naming_the_field(
        cls: type[StepParams], message: str) -> None:
    with pytest.raises(InternalError, match=message):
        plan_schema.params_definition(cls)


def test_check_exits_1_when_the_file_is_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "plan.schema.json"
    _, wanted = plan_schema.current_text()
    stale.write_text(wanted.replace('"const": "shell"', '"const": "sh"'), encoding="utf-8")
    monkeypatch.setattr(plan_schema, "PATH", stale)
    assert plan_schema.main(["--check"]) == 1
    assert "make schemas" in capsys.readouterr().err
    assert plan_schema.main([]) == 0
    assert stale.read_text(encoding="utf-8") == wanted
