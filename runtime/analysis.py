"""Codebase analysis for `analyze:` steps: a JSON picture of the repository a Claude step can read.

What it records: the file tree (tracked files in a git repo, else a filtered walk), languages by
extension, line counts, and recent git churn. The result is cached under the state dir keyed by
the content it describes: the git tree hash of HEAD plus a hash of the uncommitted changes, so a
clean checkout at the same commit reuses the analysis and any edit invalidates it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LANGUAGES = {
    ".py": "Python", ".rs": "Rust", ".go": "Go", ".js": "JavaScript", ".mjs": "JavaScript",
    ".ts": "TypeScript", ".tsx": "TypeScript", ".jsx": "JavaScript", ".java": "Java",
    ".kt": "Kotlin", ".c": "C", ".h": "C", ".cc": "C++", ".cpp": "C++", ".hpp": "C++",
    ".cs": "C#", ".rb": "Ruby", ".php": "PHP", ".swift": "Swift", ".scala": "Scala",
    ".sh": "Shell", ".bash": "Shell", ".md": "Markdown", ".rst": "reStructuredText",
    ".yml": "YAML", ".yaml": "YAML", ".json": "JSON", ".toml": "TOML", ".html": "HTML",
    ".css": "CSS", ".sql": "SQL", ".lark": "Lark", ".txt": "Text",
}
SKIP_DIRS = {".git", ".prodigy", ".venv", "venv", "node_modules", "__pycache__", "target",
             "build", "dist", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis"}
CHURN_DAYS = 30
TOP_CHURN = 20


@dataclass(frozen=True, slots=True)
class AnalyzeOptions:
    max_cache_age_s: float = 300.0
    force_refresh: bool = False
    save: bool = True
    detailed: bool = False


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def list_files(root: Path) -> list[str]:
    tracked = _git(root, "ls-files", "-z")
    if tracked is not None:
        return sorted(p for p in tracked.split("\0") if p and (root / p).is_file())
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        rel = Path(folder).relative_to(root)
        found.extend(str(rel / f) if str(rel) != "." else f for f in files)
    return sorted(found)


def content_key(root: Path, files: list[str]) -> str:
    """What the analysis describes: HEAD's tree plus uncommitted changes, or file stats."""
    digest = hashlib.sha256()
    tree = _git(root, "rev-parse", "HEAD^{tree}")
    if tree is not None:
        digest.update(tree.encode())
        digest.update((_git(root, "diff", "HEAD") or "").encode())
        digest.update((_git(root, "status", "--porcelain") or "").encode())
    else:
        for name in files:
            stat = (root / name).stat()
            digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _count_lines(path: Path) -> int | None:
    """Line count of a text file; None for binary files (a NUL in the first block)."""
    lines = 0
    try:
        with path.open("rb") as handle:
            first = True
            while block := handle.read(1 << 16):
                if first and b"\0" in block[:8192]:
                    return None
                first = False
                lines += block.count(b"\n")
    except OSError:
        return None
    return lines


def _churn(root: Path) -> list[dict[str, Any]]:
    log = _git(root, "log", f"--since={CHURN_DAYS}.days", "--numstat", "--format=%H")
    if not log:
        return []
    commits: Counter[str] = Counter()
    added: Counter[str] = Counter()
    deleted: Counter[str] = Counter()
    for line in log.splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        plus, minus, name = parts
        commits[name] += 1
        added[name] += int(plus) if plus.isdigit() else 0
        deleted[name] += int(minus) if minus.isdigit() else 0
    ranked = sorted(commits, key=lambda n: (-commits[n], -(added[n] + deleted[n]), n))
    return [{"file": n, "commits": commits[n], "added": added[n], "deleted": deleted[n]}
            for n in ranked[:TOP_CHURN]]


def analyze(root: Path) -> dict[str, Any]:
    files = list_files(root)
    by_language: dict[str, dict[str, int]] = defaultdict(lambda: {"files": 0, "lines": 0})
    per_file = []
    total_lines = 0
    for name in files:
        lines = _count_lines(root / name)
        language = LANGUAGES.get(Path(name).suffix.lower(), "Other")
        by_language[language]["files"] += 1
        by_language[language]["lines"] += lines or 0
        total_lines += lines or 0
        per_file.append({"path": name, "language": language, "lines": lines})
    return {
        "root": str(root),
        "files": len(files),
        "lines": total_lines,
        "languages": dict(sorted(by_language.items(), key=lambda kv: -kv[1]["lines"])),
        "churn_days": CHURN_DAYS,
        "churn": _churn(root),
        "tree": per_file,
    }


def cached_analysis(root: Path, cache_dir: Path, options: AnalyzeOptions) -> dict[str, Any]:
    """The analysis of `root`, from the cache when fresh enough, else computed (and saved)."""
    files = list_files(root)
    key = content_key(root, files)
    path = cache_dir / f"{key}.json"
    if not options.force_refresh and path.exists():
        age = time.time() - path.stat().st_mtime
        if age <= options.max_cache_age_s:
            cached: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return _shape(cached, options, key, from_cache=True)
    result = analyze(root)
    if options.save:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(result, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    return _shape(result, options, key, from_cache=False)


def _shape(result: dict[str, Any], options: AnalyzeOptions, key: str,
           from_cache: bool) -> dict[str, Any]:
    shaped = {k: v for k, v in result.items() if options.detailed or k != "tree"}
    shaped["cache_key"] = key
    shaped["from_cache"] = from_cache
    return shaped
