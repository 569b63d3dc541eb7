"""Secret masking: every secret value, and the encodings it is likely to leak in, becomes `***`.

GitHub's guidance is that exact-match redaction is not enough: register transformed values too.
A `Masker` therefore masks each secret as written, base64-encoded (standard and URL-safe alphabets,
with and without padding, and inside longer base64 text such as `base64(user:secret)` in a Basic
auth header), URL-encoded (`quote` and `quote_plus`), hex-encoded, and each line of a multi-line
secret; and, declared or not, text shaped like a well-known credential (`TOKEN_SHAPES`). It is
applied to every log chunk, event, checkpoint record, terminal line and `--json` document the
runtime writes. `StreamMasker` masks a byte stream chunk by chunk without letting a secret slip
through when it is split across two chunks. A command that writes straight into its log (no
secret declared) has the log scrubbed of token shapes when it ends (`scrub_log`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
# Credentials with a recognisable shape, masked even when nobody declared them: GitHub tokens
# (classic and fine-grained), AWS access key ids, `sk-` API keys (OpenAI, Anthropic), JWTs.
# Each must also start a word (`_word_start`): a lookbehind here made scanning 8x slower.
TOKEN_SHAPES = (
    r"gh[pousr]_[A-Za-z0-9]{30,}",
    r"github_pat_[A-Za-z0-9_]{22,}",
    r"(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])",
    r"sk-[A-Za-z0-9_-]{20,}",
    r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
)
_TOKEN_GROUP = "(?P<token>" + "|".join(TOKEN_SHAPES) + ")"
_TOKENS = re.compile(_TOKEN_GROUP)
SHORTEST_TOKEN = 20  # `AKIA` and 16 more: shorter text (most event fields) holds no token
_TOKEN_NEEDLES = (b"gh", b"github_pat_", b"AKIA", b"ASIA", b"sk-", b"eyJ")
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _replace(match: re.Match[str], before: str = "") -> str:
    """`***` for a declared form, and for a token shape that starts a word (`before`: the
    character preceding `match.string`, when that is a piece of a stream)."""
    if match.group("token") is None:
        return MASK
    at = match.start()
    previous = match.string[at - 1] if at else before
    return match.group() if previous and previous in _WORD else MASK
# The end of a chunk that may be the start of a token shape: held back until more arrives.
_TOKEN_START = re.compile(
    r"(?:gh[pousr]_|github_pat_|AKIA|ASIA|sk-|eyJ)[A-Za-z0-9_.-]*\Z"
    r"|(?:g(?:h[pousr]?|i(?:t(?:h(?:u(?:b(?:_(?:p(?:at?)?)?)?)?)?)?)?)?|AK?I?|AS?I?|sk?|ey?)\Z")
_TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
# Shifted base64 cores shorter than this would mask ordinary base64-looking words.
MIN_CORE = 6


def variants(secret: str) -> set[str]:
    """The forms of one secret value that are masked."""
    forms = {secret}
    forms.update(line.strip() for line in secret.splitlines() if len(line.strip()) >= 4)
    raw = secret.encode()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(raw).decode()
        forms.update({text, text.rstrip("=")})
        # Inside longer base64 text (`base64(user:secret)`) the secret starts 0, 1 or 2 bytes
        # into a 3-byte group; the characters that depend on its bytes alone are the same
        # whatever precedes it. With the end (it ends the text) and without (more follows).
        for shift in (1, 2):
            shifted = encode(b"\0" * shift + raw).decode()
            first = -(-8 * shift // 6)  # the first character free of the prefix's bits
            whole = 8 * (shift + len(raw)) // 6  # characters made of the secret's bits only
            forms.update(f for f in (shifted[first:], shifted[first:].rstrip("="),
                                     shifted[first:whole]) if len(f) >= MIN_CORE)
    forms.update({quote(secret, safe=""), quote_plus(secret), raw.hex(), raw.hex().upper()})
    return {f for f in forms if f}


_FLAT = (int, float, bool, type(None))  # JSON scalars but strings: nothing to mask


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
        # Declared values first: a token shape inside a secret must not split its match.
        self._regex = re.compile("|".join([*map(re.escape, forms), _TOKEN_GROUP]))
        self._prefixes = {f[:k] for f in forms for k in range(1, len(f))}
        self._shortest = min([SHORTEST_TOKEN, *map(len, forms)])

    def __bool__(self) -> bool:
        """Whether secrets were declared, so output must pass through the masker on its way
        to the log; token shapes alone are scrubbed from a direct log afterwards."""
        return bool(self.forms)

    def __getstate__(self) -> tuple[str, ...]:
        return self.forms

    def __setstate__(self, forms: tuple[str, ...]) -> None:
        self._setup(forms)

    def held_tail(self, text: str) -> int:
        """Length of the longest end of `text` that is the start of a secret form or of a
        token shape."""
        token = token_tail(text)
        for size in range(min(len(text), self.longest - 1), token, -1):
            if text[-size:] in self._prefixes:
                return size
        return token

    def mask(self, text: str) -> str:
        if len(text) < self._shortest:
            return text
        return self._regex.sub(_replace, text)

    def mask_data(self, value: Any) -> Any:
        """Mask every string (keys included) in a JSON-shaped value."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            # Flat values inline: every event and record of every node comes through here.
            mask, nested = self.mask, self.mask_data
            return {mask(str(k)): mask(v) if type(v) is str
                    else v if type(v) in _FLAT else nested(v) for k, v in value.items()}
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
        self._before = ""  # the last character passed on: does a token at the start begin a word

    def feed(self, text: str) -> str:
        regex = self._masker._regex
        buf = self._buf + text
        cut = len(buf) - self._masker.held_tail(buf)
        out: list[str] = []
        pos = 0
        for match in regex.finditer(buf):
            if match.start() >= cut:
                break
            out.append(buf[pos : match.start()])
            out.append(_replace(match, self._before))
            pos = match.end()
        cut = max(cut, pos)
        out.append(buf[pos:cut])
        self._buf = buf[cut:]
        self._before = buf[cut - 1] if cut else self._before
        return "".join(out)

    def flush(self) -> str:
        rest, self._buf = self._buf, ""
        regex = self._masker._regex
        return regex.sub(lambda m: _replace(m, self._before), rest) if rest else rest


def token_tail(text: str) -> int:
    """Length of the end of `text` that may be the start of a token shape (at most 4 KiB:
    a longer run of token characters is not held)."""
    tail = text[-4096:]
    run = tail[len(tail.rstrip(_TOKEN_CHARS)):]  # the trailing run of token characters
    start = _TOKEN_START.search(run) if run else None
    return len(run) - start.start() if start else 0


def scrub_log(path: str, start: int = 0) -> None:
    """Mask token shapes in what a command wrote straight into its log from `start` on, in
    place (the masked text is never longer, so writing never overtakes reading; whoever
    follows the log keeps its handle). Reads at most a chunk at a time."""
    with open(path, "r+b") as log:  # one handle reads ahead and writes behind
        log.seek(start)
        chunk = log.read(_CHUNK)
        if not chunk or (len(chunk) < _CHUNK and (
                not any(needle in chunk for needle in _TOKEN_NEEDLES)
                or not _TOKENS.search(chunk.decode("latin-1")))):
            return  # the usual case: a short log with nothing to mask, read once
        read_at, write_at, carry = start + len(chunk), start, b""
        while chunk:
            # latin-1 maps bytes 1:1, so masking ASCII shapes never breaks a UTF-8 sequence.
            text = (carry + chunk).decode("latin-1")
            cut = len(text) - token_tail(text)
            out, carry = _TOKENS.sub(_replace, text[:cut]).encode("latin-1"), text[cut:].encode(
                "latin-1")
            log.seek(write_at)
            log.write(out)
            write_at += len(out)
            log.seek(read_at)
            chunk = log.read(_CHUNK)
            read_at += len(chunk)
        log.seek(write_at)
        log.write(_TOKENS.sub(_replace, carry.decode("latin-1")).encode("latin-1"))
        log.truncate()


_CHUNK = 1 << 20
