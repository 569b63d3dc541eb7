"""Install the real Claude Code CLI (npm, a pinned version) once into a cache outside the repo.

The cache is `$PRODIGY_TEST_CACHE/claude-code-<version>` (default `~/.cache/prodigy-tests`). An
exclusive `flock` on a lock file beside it keeps two pytest processes from installing at once;
a `.installed` stamp, written only after `claude --version` answered the pinned version, makes
every later call a stat.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

PACKAGE = "@anthropic-ai/claude-code"
VERSION = "2.1.197"  # the version the event shapes in tests/e2e/test_claude_real_cli.py pin
INSTALL_TIMEOUT = 600.0


class InstallError(RuntimeError):
    pass


def missing_tools() -> str | None:
    """Why the real CLI cannot be installed here, or None."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        return (f"the real Claude Code CLI needs {' and '.join(missing)} on PATH "
                f"(npm install {PACKAGE}@{VERSION})")
    return None


def cache_root() -> Path:
    configured = os.environ.get("PRODIGY_TEST_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "prodigy-tests"


def install_dir(version: str = VERSION) -> Path:
    return cache_root() / f"claude-code-{version}"


def binary(prefix: Path) -> Path:
    return prefix / "node_modules" / ".bin" / "claude"


def _version_of(claude: Path) -> str:
    try:
        out = subprocess.run([str(claude), "--version"], capture_output=True, text=True,
                             timeout=60, env={**os.environ, "DISABLE_AUTOUPDATER": "1"})
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _run(argv: list[str], cwd: Path) -> None:
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    if out.returncode != 0:
        raise InstallError(f"{' '.join(argv)} failed (exit {out.returncode}):\n"
                           f"{out.stdout[-2000:]}{out.stderr[-4000:]}")


def ensure_cli(version: str = VERSION) -> Path:
    """The path of `node_modules/.bin/claude` of the pinned version, installing it if needed."""
    prefix = install_dir(version)
    stamp = prefix / ".installed"
    if stamp.is_file() and binary(prefix).exists():
        return binary(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with open(prefix.parent / f"claude-code-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if stamp.is_file() and binary(prefix).exists():
            return binary(prefix)  # another process installed it while we waited
        prefix.mkdir(exist_ok=True)
        _run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
              "--loglevel=error", f"{PACKAGE}@{version}"], prefix)
        claude = binary(prefix)
        if not _version_of(claude).startswith(version):
            # The package's postinstall copies the platform's native binary over a stub; an npm
            # that skips install scripts leaves the stub. Run it by hand.
            script = prefix / "node_modules" / PACKAGE / "install.cjs"
            _run(["node", str(script)], script.parent)
        found = _version_of(claude)
        if not found.startswith(version):
            raise InstallError(f"{claude} --version printed {found!r}, expected {version}")
        stamp.write_text(found + "\n")
    return binary(prefix)
