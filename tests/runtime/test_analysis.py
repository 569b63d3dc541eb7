"""Codebase analysis: languages, line counts, churn, and a cache keyed by repository content."""

from __future__ import annotations

import subprocess
from pathlib import Path

from prodigy.runtime.analysis import AnalyzeOptions, cached_analysis


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.py").write_text("x = 1\ny = 2\n")
    (root / "b.rs").write_text("fn main() {}\n")
    (root / "blob.bin").write_bytes(b"\0\1\2\n\n")
    for args in (["init", "-q"], ["add", "."],
                 ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


def test_counts_languages_lines_and_churn(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    result = cached_analysis(root, tmp_path / "cache", AnalyzeOptions(detailed=True))
    assert result["files"] == 3
    assert result["languages"]["Python"] == {"files": 1, "lines": 2}
    assert result["languages"]["Rust"] == {"files": 1, "lines": 1}
    assert {row["path"]: row["lines"] for row in result["tree"]}["blob.bin"] is None
    assert {row["file"] for row in result["churn"]} == {"a.py", "b.rs", "blob.bin"}
    assert result["from_cache"] is False


def test_cache_is_reused_until_the_content_changes(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    cache = tmp_path / "cache"
    first = cached_analysis(root, cache, AnalyzeOptions())
    again = cached_analysis(root, cache, AnalyzeOptions())
    assert again["from_cache"] is True and again["cache_key"] == first["cache_key"]
    assert "tree" not in again  # summary format
    (root / "a.py").write_text("x = 1\n")
    edited = cached_analysis(root, cache, AnalyzeOptions())
    assert edited["from_cache"] is False and edited["cache_key"] != first["cache_key"]


def test_force_refresh_and_max_age_bypass_the_cache(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    cache = tmp_path / "cache"
    cached_analysis(root, cache, AnalyzeOptions())
    assert cached_analysis(root, cache, AnalyzeOptions(force_refresh=True))["from_cache"] is False
    assert cached_analysis(root, cache, AnalyzeOptions(max_cache_age_s=-1))["from_cache"] is False


def test_works_outside_git(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "m.py").write_text("pass\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "skip.py").write_text("pass\n")
    result = cached_analysis(tmp_path, tmp_path / ".prodigy" / "analysis", AnalyzeOptions())
    assert result["files"] == 1 and result["churn"] == []
