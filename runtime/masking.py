"""Secret masking: every secret value, and the encodings it is likely to leak in, becomes `***`.

GitHub's guidance is that exact-match redaction is not enough: register transformed values too.
A `Masker` therefore masks each secret as written, base64-encoded (standard and URL-safe alphabets,
with and without padding), URL-encoded (`quote` and `quote_plus`), and each line of a multi-line
secret. It is applied to every log chunk, event, checkpoint record, terminal line and `--json`
document the runtime writes. `StreamMasker` masks a byte stream chunk by chunk without letting a
secret slip through when it is split across two chunks.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"


def variants(secret: str) -> set[str]:
    """The forms of one secret value that are masked."""
    forms = {secret}
    forms.update(line.strip() for line in secret.splitlines() if len(line.strip()) >= 4)
    raw = secret.encode()
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode()
        forms.update({text, text.rstrip("=")})
    forms.update({quote(secret, safe=""), quote_plus(secret)})
    return {f for f in forms if f}


class Masker:
    """Replaces secret values in text and in JSON-shaped data. Picklable (plain state)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms |= variants(secret)
        # Longest first, so a secret that contains another is masked as a whole.
        self._setup(tuple(sorted(forms, key=lambda f: (-len(f), f))))

    def _setup(self, forms: tuple[str, ...]) -> None:
        self.forms = forms
        self.longest = len(forms[0]) if forms else 0
        self._regex = re.compile("|".join(map(re.escape, forms))) if forms else None
        self._prefixes = {f[:k] for f in forms for k in range(1, len(f))}

    def __bool__(self) -> bool:
        return self._regex is not None

    def __getstate__(self) -> tuple[str, ...]:
        return self.forms

    def __setstate__(self, forms: tuple[str, ...]) -> None:
        self._setup(forms)

    def held_tail(self, text: str) -> int:
        """Length of the longest end of `text` that is the start of a secret form."""
        for size in range(min(len(text), self.longest - 1), 0, -1):
            if text[-size:] in self._prefixes:
                return size
        return 0

    def mask(self, text: str) -> str:
        if self._regex is None or not text:
            return text
        return self._regex.sub(MASK, text)

    def mask_data(self, value: Any) -> Any:
        """Mask every string (keys included) in a JSON-shaped value."""
        if self._regex is None:
            return value
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {self.mask(str(k)): self.mask_data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_data(v) for v in value]
        return value

    def stream(self) -> StreamMasker:
        return StreamMasker(self)


class StreamMasker:
    """Masks text arriving in chunks.

    It holds back only the longest tail of what it has seen that could still grow into a
    secret (a proper prefix of some masked form), so ordinary output, which rarely ends in the
    first characters of a secret, is passed on at once and stdout and stderr interleave in the
    log as they were written. A match that starts before the held tail is complete (a longer
    form matching there would make that tail a prefix), so it is masked and passed on.
    """

    def __init__(self, masker: Masker) -> None:
        self._masker = masker
        self._buf = ""

    def feed(self, text: str) -> str:
        regex = self._masker._regex
        if regex is None:
            return text
        buf = self._buf + text
        cut = len(buf) - self._masker.held_tail(buf)
        out: list[str] = []
        pos = 0
        for match in regex.finditer(buf):
            if match.start() >= cut:
                break
            out.append(buf[pos : match.start()])
            out.append(MASK)
            pos = match.end()
        cut = max(cut, pos)
        out.append(buf[pos:cut])
        self._buf = buf[cut:]
        return "".join(out)

    def flush(self) -> str:
        rest, self._buf = self._buf, ""
        return self._masker.mask(rest)
