"""The runtime loads plans without the compiler: no prodigy.compiler, lark or networkx; the
spawner starts with nothing but the standard library."""

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


def test_the_spawner_imports_only_the_standard_library(tmp_path: Path) -> None:
    # The driver starts it as `python -m prodigy.runtime.executors.spawner`, which imports the
    # packages above it first: they must stay light (see the spawner's docstring for why).
    script = textwrap.dedent("""
        import sys
        before = set(sys.modules)
        import prodigy.runtime.executors.spawner
        new = sorted(m for m in set(sys.modules) - before
                     if m.partition(".")[0] not in sys.stdlib_module_names)
        print(",".join(new))
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().split(",") == [
        "prodigy", "prodigy.runtime", "prodigy.runtime.executors",
        "prodigy.runtime.executors.spawner"]
