"""The starter Claude Code slash commands `prodigy init` writes into `.claude/commands/`.

Written for this project, not copied from upstream Prodigy: one short prompt per command that
upstream's workflows call most (`/prodigy-lint`, `/prodigy-implement-spec`, ...), so that such a
workflow runs in a repository that has none of its own. Each is Markdown with a front matter
(`description`, `argument-hint`) that Claude Code shows in `/help`; `$ARGUMENTS` is what follows
the command's name in the prompt (`claude: "/prodigy-lint ${shell.output}"`). They are texts in
a module, not data files, so the wheel carries them with the code.
"""

from __future__ import annotations

_IMPLEMENT_SPEC = """\
---
description: Implement a specification, test it, and commit the result
argument-hint: "[spec file or id]"
---
Implement this specification: $ARGUMENTS

Find the spec:
- A path: read that file.
- An id or a number (`42`, `auth-retry`): find the matching file under `specs/` (or the
  project's equivalent folder) by its name.
- Nothing: take the spec an earlier step of this workflow committed most recently, e.g. under
  `specs/temp/` or named `*-coverage-improvements.md` (`git log --name-only --diff-filter=A -n 20
  -- '*.md'` lists new Markdown files, newest first).
- If there is no spec to be found, say so in one line and change nothing. Do not invent one.

Do the work:
1. Read the whole spec, then the code it concerns, the README and any contributing guide.
   Follow the project's conventions: layout, naming, error handling, test style.
2. Make the changes the spec asks for, and only those. Where it is ambiguous, take the simplest
   reading that fits the existing code and say which one you took in the commit message.
3. Add or update tests for the new behaviour. Run the project's own test and lint commands
   (Makefile, justfile, package.json, pyproject.toml, Cargo.toml, CI config) and fix what fails.
4. Check every acceptance criterion or checklist item the spec has.

Finish:
- Commit the changes (one commit, or a few logical ones) with a message like
  `feat: <what> (spec <id>)`. The workflow may require a commit: make one whenever something
  changed, never an empty one.
- End with a short summary: what changed, which tests ran, what is left undone and why.
"""

_LINT = """\
---
description: Run the formatter and linters, fix what they report, commit the fixes
argument-hint: "[linter output or paths]"
---
Make the repository pass its formatter and linters.

$ARGUMENTS

The text above, if any, is the output of a failed format or lint command (fix exactly those
problems first) or the paths to limit the work to.

1. Use the project's own commands: look in the Makefile, justfile, package.json scripts,
   pyproject.toml, Cargo.toml, .pre-commit-config.yaml and the CI configuration. Fall back to
   the usual tools of the language (`cargo fmt` and `cargo clippy`, `ruff format` and
   `ruff check`, `gofmt` and `go vet`, `npm run lint`, ...).
2. Run the formatter first, then the linters. Apply their automatic fixes, then fix the rest by
   hand.
3. Fix causes, not symptoms: do not silence a warning with an ignore comment or a looser
   configuration unless it is a false positive, and say so when you do.
4. Do not change behaviour. If a fix touched logic, run the tests.
5. Run the commands again until they pass.

If you changed anything, commit it (`style: fix formatting and lint`). If all was clean already,
change nothing and say so.
"""

_CODE_REVIEW = """\
---
description: Review recent changes and write the improvements worth making as a spec
argument-hint: "[paths, commit range or focus]"
---
Review the code and record what should be improved. Scope: $ARGUMENTS

Without a scope, review what this branch changed against the branch it came from
(`git merge-base HEAD main`, or `master`, then `git diff <base> HEAD`); if that is empty, the
last few commits.

Look for, most important first:
1. Bugs: wrong logic, unhandled errors, edge cases (empty input, missing values, off-by-one,
   concurrency), leaked resources.
2. Security: injection, secrets in code or logs, unchecked outside input.
3. Tests: untested behaviour, tests that do not check what their name says.
4. Design and readability: duplication, functions doing too much, unclear names, dead code,
   comments the code no longer matches.
5. Performance problems that matter at the project's real sizes.

Change no code in this step. Write the findings as a spec a later step can implement
(`/prodigy-implement-spec` with no argument picks it up):
- Path: `specs/temp/review-<YYYYMMDD-HHMMSS>.md`.
- Content: a title, a one-paragraph summary, one section per finding (file and line, what is
  wrong, why it matters, the change to make), then acceptance criteria as a checklist.
- Keep only findings worth acting on: five real ones beat twenty nitpicks.

Commit the spec (`review: <summary>`). If nothing is worth changing, write no spec, commit
nothing, and say so.
"""

_MERGE_WORKTREE = """\
---
description: Merge one branch into another, resolving conflicts by understanding both sides
argument-hint: "SOURCE_BRANCH TARGET_BRANCH"
---
Merge a branch into another. Arguments: $ARGUMENTS
The first word is the SOURCE branch, the second the TARGET branch. With one word, SOURCE is the
branch checked out here and the word is TARGET. (In a workflow's `merge:` block, call this as
`/prodigy-merge-worktree ${merge.source_branch} ${merge.target_branch}`.)

1. Check that both branches exist (`git rev-parse --verify <branch>`). If SOURCE is already in
   TARGET (`git merge-base --is-ancestor SOURCE TARGET` succeeds), there is nothing to do: say
   so and stop.
2. Find where TARGET is checked out: `git worktree list --porcelain` prints a `worktree <path>`
   line, then `branch refs/heads/<name>`, per worktree. A branch can be checked out in one
   worktree only, and the merge has to happen there.
   - TARGET checked out: work in that directory (`git -C <path> ...`). If it has uncommitted
     changes to tracked files (`git -C <path> status --porcelain --untracked-files=no`), stop and
     report them. Never stash, reset, check out or discard someone else's work.
   - TARGET not checked out anywhere: make a temporary worktree for it
     (`git worktree add <temp dir> TARGET`), merge there, and remove it afterwards
     (`git worktree remove <temp dir>`).
3. Merge: `git merge --no-ff SOURCE -m "Merge SOURCE into TARGET"`.
4. If there are conflicts, list them (`git diff --name-only --diff-filter=U`). For each file,
   read the common base and both sides (`git show :1:<file>`, `:2:<file>`, `:3:<file>`), work out
   what each branch meant to change, and write one version that keeps both intents. Do not
   resolve by taking one side of a whole file unless the other side's change is truly obsolete.
   Remove every conflict marker, build, and run the tests that cover the files you touched.
   Then `git add` the files and `git commit --no-edit`.
   If a conflict cannot be resolved with confidence, run `git merge --abort` so that both
   branches stay as they were, and explain which files conflict and why.
5. Check: `git merge-base --is-ancestor SOURCE TARGET` now succeeds. Report the outcome in a
   line or two: merged (with the conflicts you resolved), nothing to do, or why not.

Do not push, do not delete either branch, and do not remove SOURCE's worktree: the caller does
that.
"""

_MERGE_MASTER = """\
---
description: Bring the main branch's latest commits into the current branch, resolving conflicts
argument-hint: "[branch to merge in]"
---
Merge the project's main line into the branch checked out here, so that this branch can later
be merged back cleanly. Branch to merge in: $ARGUMENTS
Without one, use the branch `origin/HEAD` points to, else `main`, else `master`.

1. If the working tree has uncommitted changes to tracked files, stop and report them: never
   stash, reset or discard them.
2. If the repository has a remote, `git fetch` it and merge the remote's copy of the branch;
   otherwise merge the local branch.
3. `git merge --no-ff <branch>`. If it says already up to date, say so and stop.
4. Resolve conflicts by understanding both sides: read the base and each side
   (`git show :1:<file>`, `:2:<file>`, `:3:<file>`) and keep both intents; remove all conflict
   markers. Build and run the tests, fix what the merge broke, then `git add` and
   `git commit --no-edit`. If a conflict cannot be resolved with confidence, `git merge --abort`
   and explain.
5. Report in a line or two what came in and which conflicts you resolved.
"""

_CLEANUP_TECH_DEBT = """\
---
description: Pay down technical debt in small, safe, tested steps
argument-hint: "[focus: paths or a kind of debt]"
---
Reduce technical debt in this repository. Focus, if any: $ARGUMENTS

1. Survey: dead code, duplicated logic, functions too long or too deeply nested, TODO, FIXME
   and HACK comments, deprecated APIs, inconsistent error handling, missing types, missing or
   flaky tests. If the arguments name a code analysis (an `analyze:` step publishes its file as
   `${analysis.file}`), use it, and `git log` for which files change most, to find hot spots:
   code that is both complex and often changed.
2. Pick the few items with the best value for their risk. Prefer deleting code to adding it.
3. Change one item at a time, without changing behaviour: keep public interfaces unless they
   are the debt. Make sure tests cover the code before you touch it; add them if they do not.
4. After each item run the tests and the linters. Undo an item you cannot make pass.
5. Commit each item on its own (`refactor: <what and why>`).

End with a summary: what you cleaned up, and the debt you saw but left, with file paths, so a
later run can pick it up.
"""

_DEBUG_TEST_FAILURE = """\
---
description: Find and fix the cause of failing tests from their output
argument-hint: "[--output TEST_OUTPUT] [--spec SPEC_FILE]"
---
Tests are failing. Make them pass by fixing the real cause.

Arguments: $ARGUMENTS
- `--output ...`: what the failing test command printed.
- `--spec FILE`: the spec the recent changes implement; read it for the intended behaviour.
- Anything else is context. Without an output, run the project's test command yourself.

1. From the output, list each failing test and its first error. Start with the first failure
   of a build or compile step: later failures often follow from it.
2. For each failure, decide where the fault is: the code (a regression, an unfinished change),
   the test (a wrong expectation, a dependence on timing, order or environment), or the setup
   (a missing file, fixture or dependency). Read the test and the code it tests, and run just
   that test to reproduce it.
3. Fix the cause. Change what a test expects only when the spec or the code's intent shows the
   test is wrong; never delete, skip or weaken a test to make it pass.
4. Run the failing tests, then the whole suite, until they pass.
5. Commit the fix (`fix: <what was wrong>`), naming the tests it fixes.

If a failure cannot be fixed here (it needs the network, a secret, or a decision), leave it,
commit nothing for it, and say what it needs.
"""

_COVERAGE = """\
---
description: Find the most important untested code and write a spec for the tests to add
argument-hint: "[paths or focus]"
---
Find where missing tests hurt most, and write a spec for the tests to add. Focus: $ARGUMENTS

1. Measure coverage with the project's tool if it has one (`cargo tarpaulin` or `cargo llvm-cov`,
   `pytest --cov`, `go test -cover`, `npm test -- --coverage`, ...). If none is installed or it
   does not run, read the code and its tests instead.
2. Rank the untested code by risk: public interfaces, error paths, parsing and validation,
   code that changed recently, complex branches. Skip generated code and trivial accessors.
3. Write a spec at the top of the repository named `<YYYYMMDD-HHMMSS>-coverage-improvements.md`
   (a workflow finds it with `outputs: {spec: {file_pattern: "*-coverage-improvements.md"}}`):
   a summary with the coverage you measured, then per item the file and function, the cases to
   test (inputs and expected results, edge cases, errors), and where the tests belong; end with
   acceptance criteria as a checklist. Aim for the five to ten items that matter most.
4. Write no tests yet: `/prodigy-implement-spec <that file>` does that. Commit the spec
   (`test: plan coverage improvements`).
"""

_DOCS_DRIFT_ANALYZE = """\
---
description: Compare the documentation with the code and write a drift report
argument-hint: "[--area NAME] [--pattern GLOB]"
---
Find where the documentation no longer matches the code. Arguments: $ARGUMENTS
- `--area NAME`: only this part of the documentation (a chapter, a topic, a module).
- `--pattern GLOB`: only the documentation files matching it.

1. Read the documentation in scope (README, docs folders, doc comments of public interfaces,
   examples) and the code it describes.
2. Note each place where they disagree: options, commands or functions that were renamed,
   removed or added; wrong defaults, types or behaviour; examples that would not run; missing
   documentation of public features.
3. Rate each issue: `critical` (the docs say something false that leads users wrong), `major`
   (significant parts missing or out of date), `minor` (small inaccuracies, style, typos).
4. Write the report to `.prodigy/documentation-drift.json` (make the folder if needed), and do
   not commit it:
   `{"summary": {"total_issues": N, "critical": N, "major": N, "minor": N, "scope": "..."},
     "issues": [{"id": "D1", "severity": "...", "area": "...", "doc": "path:line",
                 "code": "path:line", "problem": "...", "fix": "..."}]}`
   with one entry per issue and `fix` saying exactly what the documentation should say.

Change no documentation in this step. End with the summary counts.
"""

_DOCS_DRIFT_UPDATE = """\
---
description: Fix the documentation drift a report lists, most severe first
argument-hint: "[critical [only] | major | incremental] [--area NAME]"
---
Fix documentation drift. Arguments: $ARGUMENTS
- `critical` fixes the critical issues (`critical only`: nothing else); `major` the critical and
  major ones; `incremental` or nothing: every issue left.
- `--area NAME`: only the issues of that area.

1. Read `.prodigy/documentation-drift.json` (written by `/prodigy-docs-drift-analyze`). If it is
   missing, compare the documentation with the code yourself, within the same scope.
2. For each issue in scope, check it against the code first: fix the documentation to match
   what the code does now. If the code looks wrong rather than the docs, do not change either;
   note it.
3. Keep the documentation's voice and structure; make examples runnable, and run the
   documentation tests if the project has them.
4. Take the fixed issues out of the report and update its summary counts.
5. Commit the documentation changes (`docs: fix <severity> drift`), but not the report. If
   nothing in scope needed fixing, commit nothing and say so.
"""

COMMANDS: dict[str, str] = {
    "prodigy-implement-spec": _IMPLEMENT_SPEC,
    "prodigy-lint": _LINT,
    "prodigy-code-review": _CODE_REVIEW,
    "prodigy-merge-worktree": _MERGE_WORKTREE,
    "prodigy-merge-master": _MERGE_MASTER,
    "prodigy-cleanup-tech-debt": _CLEANUP_TECH_DEBT,
    "prodigy-debug-test-failure": _DEBUG_TEST_FAILURE,
    "prodigy-coverage": _COVERAGE,
    "prodigy-docs-drift-analyze": _DOCS_DRIFT_ANALYZE,
    "prodigy-docs-drift-update": _DOCS_DRIFT_UPDATE,
}
"""File stem -> the Markdown `prodigy init` writes as `.claude/commands/<stem>.md`."""
