"""`write_file: {path, content, format, mode, create_dirs}`: write a file atomically."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

from prodigy.compiler.commands.base import CommandSpec, Site, label_text
from prodigy.compiler.model import Command, Handler, Text
from prodigy.runtime.nodes import WriteFileParams
from prodigy.runtime.span import Span

if TYPE_CHECKING:
    from prodigy.compiler.normalize_base import Fields
    from prodigy.compiler.normalize_policies import ReadSteps


@dataclass(frozen=True, slots=True)
class WriteFile(Command):
    path: Text
    content: Text
    format: Literal["text", "json", "yaml"]
    mode: str  # octal text such as "0644"
    create_dirs: bool
    span: Span


READS = ("path", "content", "format", "mode", "create_dirs")


def read(step: Fields, _: ReadSteps) -> tuple[WriteFile | None, Handler | None]:
    fields = step.child("write_file", "writeFile", READS)
    if fields is None:
        return None, None
    path, content = fields.text("path"), fields.text("content")
    if path is None or content is None:
        return None, None
    mode = fields.string("mode") or "0644"
    return WriteFile(
        path=path,
        content=content,
        format=cast(Literal["text", "json", "yaml"], fields.string("format") or "text"),
        mode=mode if len(mode) == 4 else "0" + mode,
        create_dirs=fields.flag("create_dirs", False),
        span=fields.span,
    ), None


def lower(command: WriteFile, site: Site) -> WriteFileParams:
    exprs = site.exprs
    return WriteFileParams(path=exprs.template(command.path),
                           content=exprs.template(command.content), format=command.format,
                           mode=command.mode, create_dirs=command.create_dirs,
                           **site.step_fields())


SPEC = CommandSpec(
    key="write_file",
    read=read,
    model=WriteFile,
    schema_def="writeFile",
    reads=READS,
    node=WriteFileParams,
    publishes=("write_file",),
    lower=lower,
    label=lambda command: label_text("write_file", command.path.value),
)
