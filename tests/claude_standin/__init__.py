"""A loopback Anthropic Messages API stand-in that drives the real Claude Code CLI offline, and a
scripted fake CLI (`fake_cli.py`, no Node) for fast unit tests. Stdlib only.

    with StandIn() as api:                     # 127.0.0.1, random port, daemon thread
        marker = api.script("edit", [          # -> "[script:edit]"
            [{"text": "Writing it."},
             {"tool": "Bash", "input": {"command": "echo hi > a && git add a && "
                                                   "git commit -qm a", "description": "commit"}}],
            {"blocks": [{"text": "Committed."}],
             "usage": {"input_tokens": 300, "output_tokens": 20}},
        ])
        env = offline_env(home, api.url, claude_bin)   # fixtures.py; or the `claude_env` fixture
        subprocess.run([claude_bin, "-p", f"{marker} make a file", ...], env=env, cwd=repo)
        api.agent_requests("edit")[1].tool_results()   # what the Bash tool returned

Script format (`api.script(NAME, TURNS)` or `StandIn({NAME: TURNS})`): TURNS is the list of the
assistant's turns, in order. A turn is a list of blocks, or a dict:
- `blocks`: `{"text": "..."}`, or `{"tool": "Bash"|"Edit"|"Write"|"Read"|..., "input": {...},
  "id": optional}`. The input is what the real tool takes: Bash `{"command", "description"}`,
  Write `{"file_path", "content"}`, Edit `{"file_path", "old_string", "new_string"}` (the CLI
  refuses an Edit, or a Write over an existing file, of a file not Read first in the session),
  Read `{"file_path"}`. Relative file paths are relative to the CLI's cwd.
- `usage`: token counts laid over {"input_tokens": 200, "output_tokens": 40,
  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}; the CLI prices them into
  `total_cost_usd` (default model claude-opus-4-8: 5 / 25 / 0.5 / 6.25 USD per million, so one
  default turn costs 0.002).
- `stop_reason`: default `tool_use` when the turn has tool uses, else `end_turn`.
- `error`: an HTTP status (500, 529, 400, ...) or `{"status", "type", "message", "headers"}`: the
  reply is that error (`{"type": "error", "error": {"type", "message"}}`); `times: N` answers it
  only to the first N attempts of that turn (then the blocks: a retry succeeds), else always.
- `hang: true`: open the stream, send `message_start`, then nothing until the server closes.

Routing: a request WITH `tools` is an agent turn. Its script is named by the first
`[script:NAME]` marker in the text of its user messages (put it in the prompt), else the script
named `default` if there is one; its turn index is the number of assistant messages already in
its `messages`. So the stand-in keeps no cursor: parallel agents (one marker each), retries and
resumed sessions are safe. Past the script's end (or with no script) the answer is a final
`end_turn` text `done`. A request WITHOUT `tools` (the CLI's small side requests) gets a canned
text with zero usage and consumes nothing. Other paths (`count_tokens`, GETs) get small JSON.

`api.requests` is every request (`Request`: method, path, query, headers, parsed body, the
script and turn it was answered from, `answered` = turn|error|hang|canned|json);
`api.agent_requests(NAME)` the agent turns of one script; `Request.tool_results()` the
tool_result blocks it carries, `Request.user_text()` its user texts (the prompt).
"""

from .fixtures import FakeClaude, offline_env
from .install import VERSION, ensure_cli
from .record import Request
from .server import StandIn

__all__ = ["VERSION", "FakeClaude", "Request", "StandIn", "ensure_cli", "offline_env"]
