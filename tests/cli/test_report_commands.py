"""`prodigy report` and `run --report` on a real run: a map with a failing item whose reduce
fails, then resumed (three steps reused). The page is read back with html.parser and its
timeline with ElementTree; every number is checked against the run's own records."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from prodigy.cli.main import main

pytestmark = pytest.mark.e2e
BROWSER = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))),
               None)

WORKFLOW = """\
name: report-map
mode: mapreduce
setup:
  - shell: "printf '%s' '{\\"rows\\": [{\\"n\\": 1}, {\\"n\\": 2}, {\\"n\\": 3}]}' > work.json"
map:
  input: work.json
  json_path: "$.rows[*]"
  max_parallel: 2
  agent_template:
    - shell: "echo agent ${item.n}"
    - shell: "test ${item.n} != 2"
reduce:
  - shell: "echo '${map.successful}/${map.total} ok'"
  - shell: "test -f fixed"
"""


class Page(HTMLParser):
    """Sections by id, rows by class, every src/href, and the timeline's SVG as text."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.rows: Counter[str] = Counter()
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag == "tr" and found.get("class"):
            self.rows[str(found["class"])] += 1
        self.links += [str(v) for k, v in attrs if k in ("src", "href") and v]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def read(path: Path) -> tuple[Page, str]:
    html = path.read_text(encoding="utf-8")
    page = Page()
    page.feed(html)
    return page, html


def events(tmp_path: Path) -> list[dict]:
    log = tmp_path / ".prodigy/runs/m1/events.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def resumed_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PRODIGY_STATE_DIR", raising=False)
    (tmp_path / "wf.yml").write_text(WORKFLOW, encoding="utf-8")
    assert main(["run", "wf.yml", "--run-id", "m1", "--executor", "inline"]) == 1
    (tmp_path / "fixed").touch()
    assert main(["resume", "m1", "--executor", "inline"]) == 0
    return tmp_path


def test_the_report_of_a_resumed_map_with_a_failed_item(
        resumed_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = resumed_run / "page.html"
    assert main(["report", "m1", "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    page, html = read(out)
    assert {"summary", "timeline", "items", "failures", "plan", "attempts"} <= page.ids
    # Everything inline: no fetch, no absolute link; logs linked relative to the page.
    assert not [link for link in page.links if re.match(r"[a-z]+://|//", link)]
    assert "<link" not in html and "<script src" not in html
    assert "../" not in " ".join(page.links) and ".prodigy/runs/m1/logs/" in " ".join(page.links)

    # One bar per node attempt the console shows: started, then finished or reused.
    log = events(resumed_run)
    shown = [e for e in log if e["event"] in ("node_started", "node_reused")
             and e.get("kind") not in ("barrier", "gate", "handler")]
    svg = html[html.index("<svg class=\"chart\""):html.index("</svg>") + 6]
    tree = ET.fromstring(svg)
    bars = [r for r in tree.iter("rect") if "bar" in (r.get("class") or "").split()]
    assert len(bars) == len(shown) == 14
    outcomes = Counter(r.get("class", "").split()[1] for r in bars)
    assert outcomes == {"o-ok": 9, "o-failed": 2, "o-reused": 3}
    tips = [r.findtext("title") or "" for r in bars]
    assert any("item: item_1" in t and "exit code 1" in t for t in tips)
    # The inline executor runs one node at a time: one slot.
    texts = {t.text for t in tree.iter("text")}
    assert {"loops", "slot 1", "resume"} <= texts and "slot 2" not in texts
    bands = [r.findtext("title") for r in tree.iter("rect") if r.get("class") == "band"]
    assert bands == ["setup", "map", "reduce", "reduce"]  # reduce failed, then ran again

    assert page.rows["item"] == 3 and page.rows["attempt"] == 2
    text = " ".join(page.text)
    assert "Failures (1 in the dead-letter queue)" in text and "item_1 of map" in text
    assert "3 reused, 1 succeeded" in text and "1 failed, 2 succeeded" in text
    if shutil.which("dot"):
        assert "<svg width=" in html and "<!DOCTYPE svg" not in html
    else:
        assert "Mermaid text" in html


def test_run_report_writes_the_page_after_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PRODIGY_STATE_DIR", raising=False)
    (tmp_path / "wf.yml").write_text("- shell: \"echo hi\"\n", encoding="utf-8")
    assert main(["run", "wf.yml", "--run-id", "r1", "--executor", "inline", "--report"]) == 0
    path = tmp_path / ".prodigy/runs/r1/report.html"
    assert f"report: {path}" in capsys.readouterr().err
    page, _ = read(path)
    assert {"summary", "timeline", "plan", "attempts"} <= page.ids and "items" not in page.ids


def test_an_unknown_run_is_a_diagnostic(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PRODIGY_STATE_DIR", raising=False)
    assert main(["report", "nope"]) == 2
    assert "error[P505]: no run 'nope'" in capsys.readouterr().err


# Skipped where no Chromium is installed (apt-get install chromium); CI installs one and sets
# PRODIGY_REQUIRE_BROWSER, so there it fails instead of skipping.
@pytest.mark.skipif(BROWSER is None and not os.environ.get("PRODIGY_REQUIRE_BROWSER"),
                    reason="no headless Chromium (apt-get install chromium)")
def test_the_page_renders_in_a_real_browser_without_script_errors(resumed_run: Path) -> None:
    assert BROWSER is not None, "PRODIGY_REQUIRE_BROWSER is set but no Chromium is installed"
    out = resumed_run / "page.html"
    assert main(["report", "m1", "-o", str(out)]) == 0
    # After the page's own script: sort the items by duration (a click), record the order.
    probe = ('<script>document.querySelectorAll("#items th.sort")[4].click();'
             'document.documentElement.setAttribute("data-order", Array.from('
             'document.querySelectorAll("#items tbody tr")).map(function (r) {'
             ' return r.cells[4].getAttribute("data-v"); }).join(","));</script></body>')
    out.write_text(out.read_text(encoding="utf-8").replace("</body>", probe))
    done = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu",
                           "--enable-logging=stderr", "--v=0", "--dump-dom", out.as_uri()],
                          capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Uncaught" not in done.stderr, done.stderr[-2000:]
    dom = done.stdout
    assert 'data-ready="1"' in dom  # the page's script ran to its end
    assert dom.count('class="bar ') == 14
    order = [float(v) for v in re.search(r'data-order="([^"]*)"', dom)[1].split(",")]
    assert len(order) == 3 and order == sorted(order)
