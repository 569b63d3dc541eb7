"""Worktree benchmark: map agents in git worktrees (issue 14), against the same git by hand.

Every contender runs in a fresh scratch repository (one commit on `main`) under a temp dir,
with `PRODIGY_HOME` in that temp dir and git's global/system config replaced by a temp one
(identity, `gc.auto 0`), so nothing of the user's git setup takes part. prodigy is the real
CLI as a whole process: `python -m prodigy run wf.yml -y --jobs J` with cwd = the scratch repo.

1. Overhead per agent. A map of --agents items (`seq 0 N-1` as the input command) whose agent
   writes one file and commits it, `max_parallel: J`, `--jobs J` (default J = 1: one agent
   command at a time, so the cost is not shared out among parallel agents and the hand loop
   stays a plain loop; measurement 2 is the one about parallelism; prodigy still merges an
   agent on its merge thread while the next one runs, hence `pipelined`). Against, in the same
   run:
     hand        the git work by hand, in a Python loop: a run worktree on its own branch, then
                 for each item `git worktree add -b B path base`, the agent's own shell command
                 (write, `git add`, `git commit`), `git -C runtree merge --no-ff -m m B`, `git
                 worktree remove path`, `git branch -D B`; at the end the run branch is merged
                 into main (`--no-ff`) and the run worktree removed. With J > 1, J threads: adds
                 one at a time, merge + remove + branch -D one at a time (as prodigy does).
     pipelined   the same, but merge + remove + branch -D go to a second thread, one at a time,
                 and the next agent starts at once: what prodigy's merge queue does. `worktree
                 add`, `worktree remove` and `branch -D` hold one lock: the last two fail when
                 they run while an add is half done ("failed to read .git/worktrees/N/commondir":
                 both read every worktree's admin folder).
     in-place    prodigy `--in-place` on a variant whose agents only write the file (no worktree,
                 no commit, no merge): the run loop's own cost per agent.
   Reported: wall time of each (whole process for prodigy; from its event log also its map
   node, and the map node less its input command: the agents and their merges), per agent ms,
   and the ratios to both hand loops. Goal: at most 1.5x.
2. The merge queue never idles an agent slot. Agents that `sleep 0.2`, then write and commit one
   file, --sleep-items of them: whole-run wall time at `max_parallel: 4` / `--jobs 4` against
   `max_parallel: 1` / `--jobs 1`. Goal: the ratio under 1/3 (ideal 1/4). Also the same phases
   as above, and the share of the slots that held a running agent command.

Each prodigy run is checked: exit 0, and every item's commit on `main` (`git log --format=%s main`
lines starting `item `); the hand loop is checked the same way. Anything else stops the bench.
Figures are the median of --repeat rounds; within a round the contenders run back to back, and
a ratio is the median of the rounds' own ratios. The prodigy measured is the one `python -m
prodigy` imports: set PYTHONPATH to measure another checkout (e.g. a `git archive` of a commit).

--breakdown (on by default; --no-breakdown skips it) adds, outside the timed runs: the hand loop's
time per git command (its own timers), and one more prodigy run of measurement 1 under
`GIT_TRACE2_EVENT`, which gives every git process prodigy (and the agents) started with its
argv and its own elapsed time: how many git processes an agent costs and how long they take
inside git.

Usage:

    python bench/bench_worktrees.py [--agents 200] [--sleep-items 40] [--jobs 1] [--repeat 3]
                                    [--no-breakdown]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMIT_AGENT = ('echo ${item} > f${item}.txt && git add f${item}.txt && '
                'git commit -q -m \\"item ${item}\\"')
WRITE_AGENT = "echo ${item} > f${item}.txt"
SLEEP_AGENT = "sleep 0.2 && " + COMMIT_AGENT
WORKFLOW = """\
name: bench-worktrees
mode: mapreduce
map:
  input: "seq 0 {last}"
  max_parallel: {parallel}
  agent_template:
    - shell: "{agent}"
"""


def workflow(count: int, parallel: int, agent: str) -> str:
    return WORKFLOW.format(last=count - 1, parallel=parallel, agent=agent)


class Bench:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.serial = 0
        config = tmp / "gitconfig"
        config.write_text("[user]\n\tname = bench\n\temail = bench@localhost\n"
                          "[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n"
                          "[maintenance]\n\tauto = false\n[advice]\n\tdetachedHead = false\n")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("GIT_", "PRODIGY_"))}
        self.env = {**env, "GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_NOSYSTEM": "1",
                    "PRODIGY_HOME": str(tmp / "prodigy-home"), "NO_COLOR": "1"}

    def git(self, *args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
        proc = subprocess.run(["git", *args], cwd=cwd, env=env or self.env, text=True,
                              capture_output=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise SystemExit(f"git {' '.join(args)} failed in {cwd}:\n{proc.stderr}")
        return proc.stdout

    def repo(self, name: str, files: dict[str, str] | None = None) -> Path:
        """A fresh scratch repository with one commit on main (and `files` in it)."""
        self.serial += 1
        path = self.tmp / f"{self.serial:03d}-{name}"
        path.mkdir()
        self.git("init", "-q", "-b", "main", cwd=path)
        (path / "README").write_text("scratch\n")
        for rel, text in (files or {}).items():
            (path / rel).write_text(text)
        self.git("add", "-A", cwd=path)
        self.git("commit", "-q", "-m", "init", cwd=path)
        return path

    def commits_on_main(self, repo: Path) -> int:
        subjects = self.git("log", "--format=%s", "main", cwd=repo).splitlines()
        return sum(1 for s in subjects if s.startswith("item "))

    # --- prodigy ---------------------------------------------------------------------------

    def prodigy(self, name: str, text: str, jobs: int, count: int, commits: bool = True,
                in_place: bool = False, env: dict[str, str] | None = None) -> dict[str, float]:
        repo = self.repo(name, {"wf.yml": text})
        state = self.tmp / f"{self.serial:03d}-state"
        argv = [sys.executable, "-m", "prodigy", "run", "wf.yml", "-y", "--jobs", str(jobs),
                "--state-dir", str(state), "--run-id", "bench"]
        if in_place:
            argv.append("--in-place")
        started = time.perf_counter()
        proc = subprocess.run(argv, cwd=repo, env=env or self.env, text=True,
                              capture_output=True, stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"prodigy run ({name}) failed, exit {proc.returncode}:\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        if commits:
            landed = self.commits_on_main(repo)
            if landed != count:
                raise SystemExit(f"prodigy run ({name}): {landed} of {count} item commits "
                                 f"on main\n{proc.stdout[-3000:]}")
        else:
            made = len(list(repo.glob("f*.txt")))
            if made != count:
                raise SystemExit(f"prodigy run ({name}): {made} of {count} files written")
        return {"wall": wall, **map_phases(state, jobs)}

    # --- by hand ---------------------------------------------------------------------------

    def hand(self, count: int, jobs: int, pipelined: bool = False,
             timers: dict[str, list[float]] | None = None) -> float:
        """The same git work as a prodigy run of measurement 1, in a loop: the wall time.
        `pipelined`: merge, remove and branch -D go to a second thread (one at a time), and
        the next agent starts at once, as prodigy's merge queue lets it."""
        repo = self.repo("hand")
        trees = self.tmp / f"{self.serial:03d}-hand-trees"
        base = self.git("rev-parse", "HEAD", cwd=repo).strip()
        admin, merging = threading.Lock(), threading.Lock()
        queue = ThreadPoolExecutor(1) if pipelined else None
        merges: list[Future[None]] = []
        clock = time.perf_counter

        def timed(label: str, *args: str, cwd: Path) -> None:
            started = clock()
            if args[0] == "sh":
                proc = subprocess.run(list(args), cwd=cwd, env=self.env,
                                      stdin=subprocess.DEVNULL, capture_output=True)
                if proc.returncode != 0:
                    raise SystemExit(f"agent failed in {cwd}: {proc.stderr!r}")
            else:
                self.git(*args, cwd=cwd)
            if timers is not None:
                timers[label].append(clock() - started)

        def agent(item: int) -> None:
            branch, path = f"bench/agents/{item}", trees / "agents" / str(item)
            with admin:
                timed("worktree add", "worktree", "add", "-q", "-b", branch, str(path), base,
                      cwd=repo)
            command = COMMIT_AGENT.replace("${item}", str(item)).replace('\\"', '"')
            timed("agent (write, add, commit)", "sh", "-c", command, cwd=path)
            if queue is not None:
                merges.append(queue.submit(merge, item, branch, path))
                return
            with merging:
                merge(item, branch, path)

        def merge(item: int, branch: str, path: Path) -> None:
            timed("merge --no-ff", "-C", str(runtree), "merge", "-q", "--no-ff", "-m",
                  f"merge {item}", branch, cwd=repo)
            with admin:  # see `pipelined` in the docstring
                timed("worktree remove", "worktree", "remove", str(path), cwd=repo)
                timed("branch -D", "branch", "-q", "-D", branch, cwd=repo)

        started = clock()
        runtree = trees / "run"
        self.git("worktree", "add", "-q", "-b", "bench/run", str(runtree), base, cwd=repo)
        items = range(count)
        if jobs == 1:
            for item in items:
                agent(item)
        else:
            with ThreadPoolExecutor(jobs) as pool:
                list(pool.map(agent, items))
        if queue is not None:
            queue.shutdown()
            for future in merges:
                future.result()
        self.git("merge", "-q", "--no-ff", "-m", "merge run", "bench/run", cwd=repo)
        self.git("worktree", "remove", str(runtree), cwd=repo)
        self.git("branch", "-q", "-D", "bench/run", cwd=repo)
        wall = clock() - started
        landed = self.commits_on_main(repo)
        if landed != count:
            raise SystemExit(f"hand loop: {landed} of {count} item commits on main")
        return wall

    # --- where prodigy's time goes -------------------------------------------------------------

    def trace(self, count: int, jobs: int) -> dict[str, object]:
        """One prodigy run of measurement 1 with GIT_TRACE2_EVENT: its git processes."""
        log = self.tmp / "trace2.jsonl"
        env = {**self.env, "GIT_TRACE2_EVENT": str(log)}
        run = self.prodigy("trace", workflow(count, jobs, COMMIT_AGENT), jobs, count, env=env)
        starts: dict[str, str] = {}
        spent: dict[str, float] = {}
        failed: dict[str, int] = defaultdict(int)
        for line in log.read_text().splitlines():
            event = json.loads(line)
            sid = event.get("sid", "")
            if "/" in sid:  # a git process started by git itself (not by prodigy or sh)
                continue
            if event["event"] == "start":
                starts[sid] = git_label(event["argv"][1:])
            elif event["event"] == "exit":
                spent[sid] = float(event["t_abs"])
                if event.get("code"):
                    failed[starts.get(sid, "?")] += 1
        by_label: dict[str, list[float]] = defaultdict(list)
        for sid, label in starts.items():
            by_label[label].append(spent.get(sid, 0.0))
        return {"wall": run["wall"], "map": run["map"], "git": dict(by_label),
                "failed": dict(failed)}


def git_label(argv: list[str]) -> str:
    """A short name for a git command line: the subcommand and the options that tell apart
    the calls prodigy makes."""
    args = [a for a in argv if a not in ("-q", "--quiet")]
    while args and args[0] == "-C":
        args = args[2:]
    if not args:
        return "git"
    sub = args[0]
    if sub == "worktree":
        return f"worktree {args[1]}" if len(args) > 1 else sub
    if sub == "rev-parse":
        if "MERGE_HEAD" in args:
            return "rev-parse MERGE_HEAD"
        if any(a.startswith("refs/heads/") for a in args):
            return "rev-parse refs/heads/B (branch exists?)"
        if "--show-toplevel" in args:
            return "rev-parse --show-toplevel (find repo)"
        return "rev-parse " + " ".join(args[1:3])
    if sub == "config":
        return "config " + " ".join(a for a in args[1:] if not a.startswith("-"))
    if sub == "merge":
        return "merge --no-ff" if "--no-ff" in args else "merge"
    return sub


def map_phases(state: Path, window: int) -> dict[str, float]:
    """From the run's event log: `map` the map node (started -> finished), `input` its input
    command (-> loop_started), `agents` the rest (the agents and their merges), and `busy` the
    share of the window's slots that held a running agent command during `agents`."""
    events = [json.loads(line) for line in
              (state / "runs" / "bench" / "events.jsonl").read_text().splitlines()]
    start = next(e["ts"] for e in events if e["event"] == "node_started" and e["node"] == "map")
    loop = next(e["ts"] for e in events if e["event"] == "loop_started" and e["node"] == "map")
    end = next(e["ts"] for e in events if e["event"] == "node_finished" and e["node"] == "map")
    began: dict[str, float] = {}
    busy = 0.0
    for e in events:
        if e["event"] in ("node_started", "node_finished") and e["node"].startswith("map["):
            if e["event"] == "node_started":
                began[e["node"]] = e["ts"]
            else:
                busy += e["ts"] - began.pop(e["node"])
    return {"map": end - start, "input": loop - start, "agents": end - loop,
            "busy": busy / (window * (end - loop))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200, help="items of measurement 1")
    parser.add_argument("--sleep-items", type=int, default=40, help="items of measurement 2")
    parser.add_argument("--jobs", type=int, default=1,
                        help="max_parallel and --jobs of measurement 1 (and the hand loop)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--breakdown", action=argparse.BooleanOptionalAction, default=True,
                        help="per-git-command times of the hand loop and of one traced "
                             "prodigy run (not timed with the rest)")
    args = parser.parse_args()
    n, jobs = args.agents, args.jobs
    command = (f"python bench/bench_worktrees.py --agents {n} --sleep-items "
               f"{args.sleep_items} --jobs {jobs} --repeat {args.repeat}")
    runs: dict[str, list[float]] = defaultdict(list)

    def keep(name: str, value: float) -> None:
        runs[name].append(value)
        print(f"  {name}: {value:.3f}", file=sys.stderr)

    timers: dict[str, list[float]] = defaultdict(list)
    traced: dict[str, object] | None = None
    with tempfile.TemporaryDirectory(prefix="prodigy-bench-wt-") as tmp:
        bench = Bench(Path(tmp))
        for round_ in range(args.repeat):
            print(f"round {round_ + 1}/{args.repeat}", file=sys.stderr)
            keep("hand", bench.hand(n, jobs))
            keep("hand pipelined", bench.hand(n, jobs, pipelined=True))
            run = bench.prodigy("commit", workflow(n, jobs, COMMIT_AGENT), jobs, n)
            for key in ("wall", "map", "input", "agents"):
                keep(f"prodigy {key}", run[key])
            run = bench.prodigy("in-place", workflow(n, jobs, WRITE_AGENT), jobs, n,
                                commits=False, in_place=True)
            for key in ("wall", "map", "input", "agents"):
                keep(f"in-place {key}", run[key])
            m = args.sleep_items
            for width in (1, 4):
                run = bench.prodigy(f"sleep-{width}", workflow(m, width, SLEEP_AGENT), width, m)
                for key in ("wall", "map", "input", "agents", "busy"):
                    keep(f"sleep{width} {key}", run[key])
        if args.breakdown:
            print("breakdown", file=sys.stderr)
            bench.hand(n, jobs, timers=timers)
            traced = bench.trace(n, jobs)
        git_version = bench.git("--version", cwd=Path(tmp)).strip()
    med = {name: statistics.median(values) for name, values in runs.items()}
    print(report(med, runs, n, jobs, args.sleep_items, command, git_version, timers, traced))


def report(med: dict[str, float], runs: dict[str, list[float]], n: int, jobs: int, m: int,
           command: str, git_version: str, timers: dict[str, list[float]],
           traced: dict[str, object] | None) -> str:
    def spread(name: str) -> str:
        values = runs[name]
        return f"{min(values):.2f}-{max(values):.2f}" if len(values) > 1 else "-"

    def per(name: str) -> str:
        return f"{med[name] / n * 1000:.1f}"

    def ratio(name: str, base: str, unit: str = "x") -> str:
        """The median of the rounds' own ratios (each round's contenders ran back to back,
        so they shared the machine's load), and their range."""
        values = [a / b for a, b in zip(runs[name], runs[base], strict=True)]
        text = f"{statistics.median(values):.2f}{unit}"
        if len(values) > 1:
            text += f" ({min(values):.2f}-{max(values):.2f})"
        return text

    def row(label: str, name: str) -> str:
        return (f"| {label} | {med[name]:.2f} | {spread(name)} | {per(name)} "
                f"| {ratio(name, 'hand')} | {ratio(name, 'hand pipelined')} |")

    def sleep(key: str, fmt: str = "{:.2f}", share: bool = True) -> str:
        four = ratio(f"sleep4 {key}", f"sleep1 {key}", "") if share else ""
        return f"{fmt.format(med['sleep1 ' + key])} | {fmt.format(med['sleep4 ' + key])} | {four}"

    lines = [
        f"Command: `{command}`. {platform.python_implementation()} "
        f"{platform.python_version()}, {git_version}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs; median of {len(runs['hand'])} rounds, seconds (range: min-max); "
        "within a round the contenders ran back to back, and a ratio is the median of the "
        "rounds' own ratios.", "",
        f"**1. Overhead per agent**: {n} agents, each writes one file and commits it, "
        f"`max_parallel: {jobs}`, `--jobs {jobs}`.", "",
        "| contender | wall time (s) | range | per agent (ms) | / hand | / hand pipelined |",
        "|---|---:|---:|---:|---:|---:|",
        row("by hand: worktree add, agent, merge --no-ff, worktree remove, branch -D "
            "(Python loop, serial)", "hand"),
        row("by hand, pipelined: merge, remove, branch -D on a second thread while the next "
            "agent runs (as prodigy's merge queue does)", "hand pipelined"),
        row("**prodigy run** (whole CLI)", "prodigy wall"),
        row("prodigy: map node", "prodigy map"),
        row("prodigy: map node less its input command (agents and merges)", "prodigy agents"),
        row("prodigy `--in-place`, agents only write (no worktree, commit or merge; whole CLI)",
            "in-place wall"),
        row("same: map node", "in-place map"),
        row("same: map node less its input command", "in-place agents"),
        "",
        f"**2. Merge queue vs agent slots**: {m} agents, each `sleep 0.2`, then writes and "
        "commits one file.", "",
        "| | max_parallel 1, --jobs 1 | max_parallel 4, --jobs 4 | 4-way / 1-way |",
        "|---|---:|---:|---:|",
        f"| **whole CLI** (s) | {sleep('wall')} |",
        f"| map node (s) | {sleep('map')} |",
        f"| map input command `seq` (s) | {sleep('input')} |",
        f"| agents and merges: map node less its input command (s) | {sleep('agents')} |",
        f"| ideal: the sleeps alone (s) | {m * 0.2:.2f} | {m * 0.2 / 4:.2f} | 0.25 |",
        f"| slots holding a running agent command, share of the agents phase "
        f"| {sleep('busy', '{:.0%}', share=False)} |",
        f"| whole CLI, range (s) | {spread('sleep1 wall')} | {spread('sleep4 wall')} | |",
    ]
    if timers:
        total = sum(sum(v) for v in timers.values())
        lines += ["", f"Breakdown, hand loop ({n} agents, untimed round, wall time of each "
                      "command as the loop sees it):", "",
                  "| command | calls | ms per call | share |", "|---|---:|---:|---:|"]
        for label, values in sorted(timers.items(), key=lambda kv: -sum(kv[1])):
            lines.append(f"| {label} | {len(values)} | {statistics.mean(values) * 1000:.1f} "
                         f"| {sum(values) / total:.0%} |")
    if traced:
        by_label = traced["git"]
        assert isinstance(by_label, dict)
        total_git = sum(sum(v) for v in by_label.values())
        lines += ["", f"Breakdown, one prodigy run under `GIT_TRACE2_EVENT` ({n} agents, "
                      f"wall {traced['wall']:.2f} s, map node {traced['map']:.2f} s): every git "
                      "process started by prodigy or by an agent's shell, with the time it "
                      "spent inside git (trace2's own elapsed time; process start-up and "
                      "Python's subprocess cost are on top). Total inside git "
                      f"{total_git:.2f} s, {total_git / n * 1000:.1f} ms per agent.", "",
                  "| git command | processes | per agent | ms each (inside git) | total s "
                  "| exit != 0 |", "|---|---:|---:|---:|---:|---:|"]
        failed = traced["failed"]
        assert isinstance(failed, dict)
        for label, values in sorted(by_label.items(), key=lambda kv: -sum(kv[1])):
            lines.append(f"| {label} | {len(values)} | {len(values) / n:.2f} "
                         f"| {statistics.mean(values) * 1000:.1f} | {sum(values):.2f} "
                         f"| {failed.get(label, 0)} |")
        count = sum(len(v) for v in by_label.values())
        lines.append(f"| all | {count} | {count / n:.2f} | | {total_git:.2f} "
                     f"| {sum(failed.values())} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
