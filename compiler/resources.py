"""The one place that locates the compiler's data files (grammar/ and schemas/).

Both folders are installed as the packages `prodigy.grammar` and `prodigy.schemas`, so
`importlib.resources` finds them from an editable install and from a built wheel alike.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files


@cache
def grammar_text(name: str) -> str:
    return files("prodigy.grammar").joinpath(name).read_text(encoding="utf-8")


@cache
def schema(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(
        files("prodigy.schemas").joinpath(name).read_text(encoding="utf-8")
    )
    return loaded
