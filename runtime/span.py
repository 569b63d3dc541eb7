"""Source positions shared by the compiler and the runtime.

A span lives in the runtime package because plan nodes carry one, so a failure at run time can
point back at the YAML line that produced the node, even when the plan runs without its YAML.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A 1-based, inclusive-start / exclusive-end region of a source file."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def to_json(self) -> list[object]:
        return [self.file, self.line, self.col, self.end_line, self.end_col]

    @classmethod
    def from_json(cls, data: list[object]) -> Span:
        file, line, col, end_line, end_col = data
        return cls(str(file), int(str(line)), int(str(col)), int(str(end_line)), int(str(end_col)))

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"
