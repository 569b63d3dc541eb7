"""Secrets never reach logs, events, records or the terminal, in any common encoding."""

from __future__ import annotations

import base64
import pickle
from urllib.parse import quote, quote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from prodigy.runtime.masking import MASK, Masker

SECRET = "s3cr3t/p@ss+word"


def test_masks_the_value_and_its_encodings() -> None:
    masker = Masker([SECRET])
    raw = SECRET.encode()
    for form in (SECRET, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(),
                 quote(SECRET, safe=""), quote_plus(SECRET)):
        assert masker.mask(f"token={form}; done") == f"token={MASK}; done"


def test_masks_each_line_of_a_multiline_secret() -> None:
    masker = Masker(["-----BEGIN KEY-----\nAAAABBBBCCCC\n-----END KEY-----"])
    assert "AAAABBBBCCCC" not in masker.mask("leak: AAAABBBBCCCC")


def test_masks_nested_json_data_keys_included() -> None:
    masker = Masker([SECRET])
    data = {"a": [SECRET, {"b": f"x{SECRET}x"}], SECRET: 1, "n": 3}
    assert masker.mask_data(data) == {"a": [MASK, {"b": f"x{MASK}x"}], MASK: 1, "n": 3}


def test_no_secrets_is_a_no_op_and_pickles() -> None:
    assert Masker().mask(SECRET) == SECRET
    clone = pickle.loads(pickle.dumps(Masker([SECRET])))
    assert clone.mask(SECRET) == MASK


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=60), st.lists(st.integers(1, 30), max_size=6))
def test_stream_masking_never_lets_a_split_secret_through(noise: str, cuts: list[int]) -> None:
    masker = Masker([SECRET])
    text = f"{noise}{SECRET}{noise}{SECRET}"
    stream, out, pos = masker.stream(), [], 0
    for cut in cuts:
        out.append(stream.feed(text[pos:pos + cut]))
        pos += cut
    out.append(stream.feed(text[pos:]))
    out.append(stream.flush())
    joined = "".join(out)
    assert SECRET not in joined
    assert joined == masker.mask(text)
