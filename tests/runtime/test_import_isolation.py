"""The runtime loads plans without the compiler: no prodigy.compiler, lark or networkx."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_loading_a_plan_imports_no_compiler_module(tmp_path: Path) -> None:
    from prodigy.compiler.pipeline import compile_file

    plan_path = tmp_path / "plan.json"
    plan_path.write_text(compile_file(str(ROOT / "workflows" / "mapreduce.yml")).dumps(),
                         encoding="utf-8")
    script = textwrap.dedent(f"""
        import sys
        from prodigy.runtime.plan import loads
        plan = loads(open({str(plan_path)!r}, encoding="utf-8").read())
        assert plan.nodes and plan.subplans
        banned = [m for m in sys.modules
                  if m.startswith(("prodigy.compiler", "lark", "networkx"))]
        print(",".join(banned))
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
