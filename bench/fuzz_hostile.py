"""`make fuzz`: hostile workflow files through the real `prodigy validate` and `prodigy compile`.

For FUZZ_SECONDS (default 60) it writes one hostile input after another (alias bombs, huge and
malformed numbers, lone surrogates, duplicate keys, thousands of `${x}`, deep nesting, control
characters, a FIFO, garbage bytes, mutations of the workflows in workflows/) and runs both
commands on each as separate processes, measuring wall time and peak RSS (os.wait4). It reports
counts by outcome and fails (exit 1) unless: no exit 3 or traceback, nothing over 10 s, nothing
over 1 GiB. Every failing input is saved under --keep (default build/fuzz-failures/).

    FUZZ_SECONDS=60 python bench/fuzz_hostile.py [--seed N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S, LIMIT_KIB, KILL_S = 10.0, 1024 * 1024, 30.0
HEAD = "name: f\ncommands:\n"


def _aliases(r: random.Random) -> str:
    return "a: &a " + "x" * r.randint(1, 1_000_000) + "\nb: [" + ", ".join(["*a"] * 2000) + "]\n"


def _deep(r: random.Random) -> str:
    n = r.randint(100, 200_000)
    return HEAD + "  - shell: " + "[" * n + "]" * n + "\n"


PAYLOADS: dict[str, Callable[[random.Random], str | bytes]] = {
    "alias-bomb": _aliases,
    "huge-int": lambda r: HEAD + "  - shell: echo\n    timeout: "
    + "9" * r.randint(4000, 100_000) + "\n",
    "bad-tag": lambda r: HEAD + "  - shell: echo\n    timeout: " + r.choice(
        ["!!int x", "!!float zzz", "!!binary ???", "!!timestamp nope", "!!python/object x"]) + "\n",
    "surrogate": lambda r: HEAD + '  - shell: "echo \\ud800' + "\\udfff" * r.randint(0, 3) + '"\n',
    "dup-keys": lambda r: "name: f\n" + "".join(f"k: {i}\n" for i in range(r.randint(10, 20_000)))
    + "commands:\n  - shell: echo\n",
    "many-splices": lambda r: HEAD + "  - shell: \"" + "${x}" * r.randint(100, 8000) + "\"\n",
    "deep-nesting": _deep,
    "control-chars": lambda r: HEAD + "  - shell: \"echo " + "".join(
        f"\\x{r.randrange(32):02x}" for _ in range(50)) + "\"\n  - \x1b]0;pwned\x07: 1\n",
    "garbage": lambda r: r.randbytes(r.randint(1, 200_000)),
    "long-line": lambda r: HEAD + "  - shell: echo " + "y" * r.randint(10_000, 5_000_000) + "\n",
}


def mutate(r: random.Random, corpus: list[bytes]) -> bytes:
    data = bytearray(r.choice(corpus))
    for _ in range(r.randint(1, 20)):
        at = r.randrange(len(data) + 1)
        op = r.randrange(4)
        if op == 0 and data:
            del data[at:at + r.randint(1, 50)]
        elif op == 1:
            data[at:at] = r.choice([b"${", b"}", b"&a ", b"*a", b"\n  ", b": ", b"- ", b"\t",
                                    b"!!int ", b"'", b'"', b"\x00", b"{{", b"]]"])
        elif op == 2 and data:
            data[at % len(data)] = r.randrange(256)
        else:
            chunk = data[at:at + r.randint(1, 200)]
            data[at:at] = bytes(chunk) * r.randint(1, 50)
    return bytes(data)


def run_one(argv: list[str], cwd: Path) -> tuple[int, float, int, str]:
    """(exit code, seconds, peak RSS KiB, stderr tail) of one process; killed after KILL_S."""
    with tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err,
                                stdin=subprocess.DEVNULL)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > KILL_S:
                proc.kill()
            time.sleep(0.005)
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return code, time.monotonic() - started, usage.ru_maxrss, err.read()[-4000:].decode(
            errors="replace")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float,
                        default=float(os.environ.get("FUZZ_SECONDS", "60")))
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--keep", type=Path, default=ROOT / "build" / "fuzz-failures")
    args = parser.parse_args()
    r = random.Random(args.seed)
    corpus = [p.read_bytes() for p in sorted((ROOT / "workflows").glob("*.yml"))]
    prodigy = str(Path(sys.executable).with_name("prodigy"))
    outcomes: collections.Counter[str] = collections.Counter()
    slow = big = crashed = 0
    bad: list[str] = []
    deadline = time.monotonic() + args.seconds
    with tempfile.TemporaryDirectory(prefix="prodigy-fuzz-") as tmp:
        work = Path(tmp)
        fifo = work / "fifo.yml"
        os.mkfifo(fifo)  # nobody writes it: validate must not block on it
        n = 0
        while time.monotonic() < deadline:
            kind = r.choice([*PAYLOADS, "mutation", "mutation", "fifo"])
            path = fifo if kind == "fifo" else work / f"in{n}.yml"
            if kind != "fifo":
                data = mutate(r, corpus) if kind == "mutation" else PAYLOADS[kind](r)
                path.write_bytes(data.encode("utf-8", "surrogatepass")
                                 if isinstance(data, str) else data)
            for command in (["validate", "--strict"], ["compile", "-o", str(work / "p.json")]):
                code, secs, kib, err = run_one([prodigy, *command, str(path)], work)
                outcomes[f"{command[0]} exit {code}"] += 1
                slow += secs > LIMIT_S
                big += kib > LIMIT_KIB
                crashed += code == 3 or "Traceback" in err
                if code == 3 or "Traceback" in err or secs > LIMIT_S or kib > LIMIT_KIB:
                    args.keep.mkdir(parents=True, exist_ok=True)
                    kept = args.keep / f"{kind}-{n}-{command[0]}.yml"
                    if kind != "fifo":
                        shutil.copy(path, kept)
                    bad.append(f"{kept}: {command[0]} exit {code}, {secs:.1f} s, "
                               f"{kib // 1024} MiB\n{err[-600:]}")
            if kind != "fifo":
                path.unlink()
            n += 1
    print(f"fuzz: {n} inputs in {args.seconds:.0f} s (seed {args.seed}), "
          f"{sum(outcomes.values())} processes")
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome}: {count}")
    print(f"  exit 3 or traceback: {crashed} (target 0); over {LIMIT_S:.0f} s: {slow} "
          f"(target 0); over 1 GiB: {big} (target 0)")
    for line in bad:
        print(line, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
