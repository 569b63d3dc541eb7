"""A step's `commit_config:`, read and checked against what `auto_commit` can honour.

The runtime (`runtime/ops/auto_commit.py`) makes the commit of an `auto_commit: true` step
with the message, pattern, author, signing and file globs given here. What it cannot honour
is refused now (P119), never accepted and then dropped: `squash` (nothing squashes commits at
the end of a run), a `commit_config` on a step without `auto_commit` (no commit of prodigy's
to configure), and message placeholders other than the step's own values.
"""

from __future__ import annotations

import re

from prodigy.compiler.model import CommitConfig
from prodigy.compiler.normalize_base import Fields
from prodigy.runtime.git.changes import FIELDS

# What `message_template` may name: filled in by the runtime when it commits.
PLACEHOLDERS = ("step.name", "step.index", *(f"step.{name}" for name in FIELDS))
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def commit_config(fields: Fields | None, auto_commit: bool) -> CommitConfig | None:
    if fields is None:
        return None

    def names(key: str) -> tuple[str, ...]:
        raw = fields.get(key)
        return tuple(str(v) for v in raw) if isinstance(raw, list) else ()

    config = CommitConfig(fields.string("message_template"), fields.string("message_pattern"),
                          fields.flag("sign", False), fields.string("author"),
                          names("include_files"), names("exclude_files"),
                          fields.flag("squash", False), fields.span)
    ctx = fields.ctx
    if not auto_commit:
        ctx.error("P119", "`commit_config` configures the commits of `auto_commit`, which this "
                  "step does not set", fields.span,
                  hint="add `auto_commit: true` to the step, or remove `commit_config`")
    if config.squash:
        ctx.error("P119", "`commit_config.squash` is not supported: prodigy does not squash a "
                  "run's commits", fields.key_span("squash"),
                  hint="remove `squash`; squash the run's branch when merging it instead")
    unknown = [name for name in _PLACEHOLDER.findall(config.message_template or "")
               if name.strip() not in PLACEHOLDERS]
    if unknown:
        ctx.error("P119", f"`message_template` can name only the step's own values, not "
                  f"{', '.join('${' + name + '}' for name in unknown)}",
                  fields.value_span("message_template"),
                  hint=f"use {', '.join('${' + name + '}' for name in PLACEHOLDERS)}")
    if config.message_pattern is not None:
        try:
            re.compile(config.message_pattern)
        except re.error as exc:
            ctx.error("P205", f"`message_pattern` is not a valid regular expression: {exc}",
                      fields.value_span("message_pattern"), hint="fix the regular expression")
    return config
