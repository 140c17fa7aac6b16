"""The run report: one before/after table per stage, a "what this shows" line, plots; and its HTML page,
self-contained (images inlined) and checked in a real headless browser when one is installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from posttrain.evals import EvalResult, SuiteResult, wilson_interval
from posttrain.pipeline.report import markdown_to_html, write_report
from posttrain.pipeline.result import RunResult, StageResult

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def suite(**correct: list[bool]) -> dict:
    """A suite result with one accuracy eval per keyword, from per-item verdicts."""
    results = {name: EvalResult(name, sum(v) / len(v), len(v), wilson_interval(sum(v), len(v)),
                                details=[{"correct": ok} for ok in v]) for name, v in correct.items()}
    return SuiteResult(results).to_dict()


def fake_run(root: Path) -> RunResult:
    """Two finished stages: SFT fixes 18 of 20 policy items, DPO fixes 9 of 20 identity items."""
    none, all_but_two = [False] * 20, [True] * 18 + [False] * 2
    points = [suite(policy=none, identity=none), suite(policy=all_but_two, identity=none),
              suite(policy=all_but_two, identity=[True] * 9 + [False] * 11)]
    stages = []
    for index, kind in enumerate(("sft", "dpo"), start=1):
        history = [{"step": s, "loss": 2.0 / s, "learning_rate": 1e-4 * (1 - s / 5)} for s in range(1, 5)]
        if kind == "dpo":
            history = [dict(h, **{"rewards/margins": 0.5 * h["step"]}) for h in history]
        stages.append(StageResult(index=index, kind=kind, output_dir=root / f"0{index}-{kind}",
                                  metrics={"train_loss": 0.9, "train_runtime": 12.5}, history=history,
                                  evals={"before": points[index - 1], "after": points[index]},
                                  data={"source": f"{kind}.jsonl", "rows": 40}, seconds=12.5))
    return RunResult(output_dir=root, model="default", stages=stages)


@pytest.fixture
def report(tmp_path) -> Path:
    return write_report(fake_run(tmp_path), tmp_path / "report.md")


def test_each_stage_has_one_before_after_table_and_says_what_it_shows(report):
    text = report.read_text(encoding="utf-8")
    assert text.count("| eval | before | after |") == 2
    sections = text.split("\n## ")[1:]
    assert [s.split("\n")[0] for s in sections] == ["01-sft", "02-dpo"]
    assert "**What this shows:** It improved policy 0.00 → 0.90 (18 fixed, 0 broken" in sections[0]
    assert "identity 0.00 → 0.45 (9 fixed, 0 broken" in sections[1] and "no eval regressed" in sections[1]
    assert (report.parent / "report_plots" / "02-dpo_dpo_margin.png").is_file()


def test_an_eval_scored_by_group_gets_a_line_per_stage(tmp_path):
    def math(add: float, sub: float) -> dict:
        result = EvalResult("math", (add + sub) / 2, 20, wilson_interval(int(10 * (add + sub)), 20),
                            metrics={"accuracy/add": add, "accuracy/sub": sub})
        return SuiteResult({"math": result}).to_dict()

    stage = StageResult(index=1, kind="grpo", output_dir=tmp_path / "01-grpo", metrics={}, history=[],
                        evals={"before": math(0.5, 0.1), "after": math(0.8, 0.0)}, data={"rows": 8}, seconds=1.0)
    text = write_report(RunResult(output_dir=tmp_path, model="default", stages=[stage]), tmp_path / "r.md").read_text()
    assert "math by group: add 0.50 → 0.80, sub 0.10 → 0.00." in text
    assert "by group" not in write_report(fake_run(tmp_path), tmp_path / "plain.md").read_text()


def test_html_page_inlines_every_plot_and_keeps_every_table(report):
    page = report.with_suffix(".html").read_text(encoding="utf-8")
    markdown = report.read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert images and page.count('src="data:image/png;base64,') == len(images)
    assert not re.search(r'(src|href)="(?!data:|#)', page), "the page points outside itself"
    assert page.count("<table>") == len(re.findall(r"^\|---", markdown, re.M)) == 4 and '<div class="row">' in page
    assert "<strong>What this shows:</strong>" in page and "<td>policy ↑</td>" in page


def test_html_escapes_text_and_names_a_missing_image(tmp_path):
    page = markdown_to_html("# T\n\n| a | b |\n|---|---|\n| <x> | `c<d` |\n", tmp_path)
    assert "<td>&lt;x&gt;</td>" in page and "<code>c&lt;d</code>" in page
    with pytest.raises(FileNotFoundError, match="missing.png"):
        markdown_to_html("![plot](missing.png)\n", tmp_path)


def test_contents_bar_links_to_every_section(tmp_path):
    page = markdown_to_html("# Title\n\n## One\n\ntext\n\n## Two: b/c\n\nmore\n", tmp_path)
    links = re.findall(r'href="#([^"]+)"', page)
    assert links == ["one", "two-b-c"]
    assert all(f'id="{anchor}"' in page for anchor in links)


# --- in a real browser ---------------------------------------------------------------------------------------------

PROBE = """<script>window.addEventListener('load', () => {
  const images = [...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth}));
  const links = [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'));
  const broken = links.filter(h => !h.startsWith('#') || !document.getElementById(h.slice(1)));
  const tables = [...document.querySelectorAll('table')].filter(t => t.getBoundingClientRect().height > 0);
  const out = document.createElement('pre'); out.id = 'probe';
  out.textContent = JSON.stringify({images, broken, tables: tables.length, title: document.title});
  document.body.appendChild(out);
});</script>"""


def browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@pytest.mark.skipif(browser() is None, reason="no headless browser installed (Debian: apt-get install chromium); "
                    "the page's structure is still checked by the tests above")
def test_html_report_in_a_headless_browser(report, tmp_path):
    page = report.with_suffix(".html").read_text(encoding="utf-8")
    probe = tmp_path / "probed.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    command = [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--virtual-time-budget=5000",
               f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", probe.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the page did not finish loading in the browser: {done.stderr[-800:]}"
    seen = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert seen["title"].startswith("Run report")
    assert seen["images"] and all(image["ok"] for image in seen["images"]), seen["images"]
    assert len(seen["images"]) == page.count("<img ") and seen["tables"] == page.count("<table>")
    assert seen["broken"] == [], seen["broken"]
