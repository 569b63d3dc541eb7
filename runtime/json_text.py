"""JSON text for the hot paths (two events and one record a node), built by one C encoder.

`json.dumps` with options, and `JSONEncoder.encode` itself, build a new C encoder on every
call; a node's events and record cost a few microseconds less each with one built up front.
The text is exactly what `json.dumps(value, ensure_ascii=False, default=str, separators=...)`
writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def encoder(item_separator: str, key_separator: str) -> Callable[[Any], str]:
    make = getattr(json.encoder, "c_make_encoder", None)  # not in the typeshed stubs
    if make is None:  # an interpreter without the _json accelerator
        return json.JSONEncoder(ensure_ascii=False, default=str,
                                separators=(item_separator, key_separator)).encode
    # No circular-reference markers: these values are built from plain data, never cyclic.
    chunks = make(None, str, json.encoder.encode_basestring, None, key_separator,
                  item_separator, False, False, True)
    return lambda value: "".join(chunks(value, 0))
