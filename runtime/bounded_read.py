"""Reading a file the user named (workflow, secrets file, env file), bounded and never blocking.

`Path.read_bytes` on a FIFO waits for a writer forever (`prodigy validate` in a pre-commit hook
would hang), on `/dev/zero` reads until memory runs out, and on a 2 GB file holds all of it.
So a file is read only if it is a regular file no larger than the caller's limit; anything else
is an OSError with a readable `strerror`, which callers already turn into their own message.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MIB = 1024 * 1024
# A workflow file larger than this is refused before it is parsed: the front end is linear in
# its input, but a workflow is text a person writes.
MAX_WORKFLOW_BYTES = 10 * MIB


def read_bounded(path: Path | str, limit: int) -> bytes:
    """The bytes of `path`, a regular file of at most `limit` bytes; else OSError."""
    # O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {_size(limit)} ({_size(info.st_size)})",
                          str(path))
        chunks: list[bytes] = []
        size = 0
        while True:  # read to the limit, not to st_size: the file may grow meanwhile
            chunk = os.read(fd, min(limit + 1 - size, MIB))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise OSError(errno.EFBIG, f"larger than {_size(limit)}", str(path))
    finally:
        os.close(fd)


def read_text_bounded(path: Path | str, limit: int) -> str:
    """As read_bounded, decoded as UTF-8; text that is not UTF-8 is an OSError too."""
    raw = read_bounded(path, limit)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OSError(errno.EILSEQ, f"byte {exc.start} is not UTF-8", str(path)) from None


def _size(n: int) -> str:
    return f"{n / MIB:.3g} MiB" if n >= MIB else f"{n} bytes"
