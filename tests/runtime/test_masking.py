"""Secrets never reach logs, events, records or the terminal, in any common encoding."""

from __future__ import annotations

import base64
import pickle
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodigy.runtime.masking import MASK, Masker, scrub_log

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


SPACED = "open sesame/42!?"  # a space: quote_plus ("open+sesame") differs from quote ("open%20")


@pytest.mark.parametrize("form", [
    quote_plus(SPACED), quote(SPACED, safe=""),
    base64.b64encode(SPACED.encode()).decode(),
    base64.b64encode(SPACED.encode()).decode().rstrip("="),  # unpadded (JWT-style, URLs)
    base64.urlsafe_b64encode(SPACED.encode()).decode().rstrip("="),
    SPACED.encode().hex(), SPACED.encode().hex().upper(),
])
def test_each_encoded_form_is_masked_whole(form: str) -> None:
    assert "=" in base64.b64encode(SPACED.encode()).decode()  # so unpadded is its own form
    assert Masker([SPACED]).mask(f"token={form}&done") == f"token={MASK}&done"


@pytest.mark.parametrize("user", ["", "a", "ab", "abc", "alice", "ci-bot"])
def test_basic_auth_base64_of_user_and_secret_is_masked(user: str) -> None:
    encoded = base64.b64encode(f"{user}:{SPACED}".encode()).decode()
    masked = Masker([SPACED]).mask(f"Authorization: Basic {encoded}\n")
    assert masked.endswith(f"{MASK}\n") and encoded not in masked
    # What is left before the mask encodes `user:` alone (its last group partly).
    left = len(masked) - len(f"Authorization: Basic {MASK}\n")
    assert left == -(-8 * (len(user) + 1) // 6)


TOKENS = [
    "ghp_" + "a1B2c3D4e5" * 3 + "F6g7H8",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "AKIAIOSFODNN7EXAMPLE",
    "sk-ant-api03-" + "x" * 40,
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
]


@pytest.mark.parametrize("token", TOKENS)
def test_well_known_token_shapes_are_masked_undeclared(token: str) -> None:
    masker = Masker()
    assert not masker  # nothing declared: commands may still write straight to their logs
    assert masker.mask(f"export TOKEN={token}\n") == f"export TOKEN={MASK}\n"
    assert masker.mask_data({"out": f"'{token}'"}) == {"out": f"'{MASK}'"}


@pytest.mark.parametrize("text", [
    "task-sk-" + "x" * 30,  # `sk-` inside a word
    "sk-short",
    "AKIAIOSFODNN7EXAMPLEX",  # one character too many for an access key id
    "xghp_" + "a" * 36,
])
def test_lookalikes_inside_words_are_left_alone(text: str) -> None:
    assert Masker().mask(text) == text


@pytest.mark.parametrize("token", TOKENS)
def test_a_token_split_across_chunks_never_gets_through(token: str) -> None:
    text = f"before {token} after\n"
    for cut in range(1, len(text)):
        stream = Masker().stream()
        joined = stream.feed(text[:cut]) + stream.feed(text[cut:]) + stream.flush()
        assert joined == f"before {MASK} after\n", cut


def test_scrub_log_masks_tokens_a_command_wrote_straight_to_its_log(tmp_path: Path) -> None:
    log = tmp_path / "n.log"
    earlier = "attempt 1 kept as it was: AKIAIOSFODNN7EXAMPLE\n"
    # A token straddling the 1 MiB read boundary, and one at the very end.
    body = "x" * ((1 << 20) - 10) + f" {TOKENS[0]} \n" + "ok\n" * 1000 + TOKENS[3]
    log.write_text(earlier + body)
    scrub_log(str(log), len(earlier))
    assert log.read_text() == earlier + Masker().mask(body)
    assert TOKENS[0] not in log.read_text() and log.read_text().endswith(MASK)


def test_scrub_log_leaves_a_clean_log_untouched(tmp_path: Path) -> None:
    log = tmp_path / "n.log"
    log.write_bytes(b"$ make\nall good \xff\n")
    before = log.stat().st_mtime_ns
    scrub_log(str(log))
    assert log.read_bytes() == b"$ make\nall good \xff\n" and log.stat().st_mtime_ns == before
