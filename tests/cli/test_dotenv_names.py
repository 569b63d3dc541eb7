"""A dotenv file's variable names are checked as workflow env names are (P120, issue 18 item
3): a bad one is a diagnostic at its line, exit 2, before any command runs, never a spawner
crash that fails the commands running beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodigy.cli.main import main


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_an_invalid_dotenv_name_is_p120_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str],
                                               dry_run: bool) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PRODIGY_STATE_DIR", raising=False)
    (tmp_path / "w.yml").write_text("name: d\nenv_files: [.env]\ncommands:\n"
                                    "  - shell: touch ran\n")
    (tmp_path / ".env").write_text("GOOD=1\nexport A-B=2\n")
    code = main(["run", "w.yml", *(["--dry-run"] if dry_run else [])])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"{tmp_path / '.env'}:2:8: error[P120]: ")
    assert "'A-B' is not an environment variable name" in err and "hint:" in err
    assert "Traceback" not in err and not (tmp_path / "ran").exists()
