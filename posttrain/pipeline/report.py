"""A run's report: per stage one before/after table (regressions flagged), a line saying what it shows, and
PNG curves beside it; as markdown, and as one self-contained HTML page (plots inlined) to open in a browser.

    run.report("runs/x/report.md")     # also writes runs/x/report.html
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import TYPE_CHECKING

from posttrain.pipeline.run_data import RunData, StageResult
from posttrain.stages.spec import Plot

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

    from posttrain.evals.compare import EvalDelta

# Every stage's curves, around its method's own (`StageSpec.plots`); a plot is drawn when the stage logged any of
# its keys.
LOSS_PLOT = Plot("loss", ("loss",), "training loss")
LEARNING_RATE_PLOT = Plot("learning_rate", ("learning_rate",), "learning rate")
SUMMARY = ("train_loss", "train_runtime")


def write_report(run: RunData, path: Path, html_page: bool = True) -> Path:
    """Markdown at `path`, plots beside it in `<stem>_plots/`, and `<stem>.html` with the plots inlined. It
    opens with the chain at a glance (`report_chain.chain_section`): every eval on the base model and after
    each stage."""
    path.parent.mkdir(parents=True, exist_ok=True)
    from posttrain.pipeline.report_chain import chain_section

    plots = path.parent / f"{path.stem}_plots"
    lines = [f"# Run report: {run.output_dir}: {gate_headline(run)}", "",
             f"Model: `{run.model}`; final model: `{run.model_dir}`", ""]
    lines += chain_section(run, plots, path.parent) + run_sections(run, plots, path.parent)
    path.write_text("\n".join(lines), encoding="utf-8")
    if html_page:
        write_html(path)
    return path


def run_sections(run: RunData, plots_dir: Path, root: Path, notes: dict[str, str] | None = None,
                 level: int = 2) -> list[str]:
    """Markdown lines: the stages table, then one section per stage (`notes[kind]` opens it), then any
    regressions. Plots are written to `plots_dir`, linked relative to `root` (the report's folder)."""
    lines = stage_table(run)
    for stage in run.stages:
        lines += stage_section(stage, plots_dir, root, (notes or {}).get(stage.kind, ""), level)
    return lines + regression_lines(run, level)


def gate_headline(run: RunData) -> str:
    """The ship gate's verdict with its default settings (`posttrain.pipeline.gate`), or why there is none."""
    from posttrain.errors import ConfigError
    from posttrain.pipeline.gate import gate_run

    try:
        return gate_run(run).headline()
    except ConfigError as err:
        return f"gate: NONE: {err.problems[0]}"


def regression_lines(run: RunData, level: int = 2) -> list[str]:
    """The regressions section: each eval that got worse in a stage, and under it the mix that would
    address it (`mix_hint`); no lines when nothing regressed."""
    regressions = run.regressions()
    if not regressions:
        return []
    lines = ["#" * level + " Regressions", ""]
    for stage, d in regressions:
        lines += [f"- **{stage}**: {d.name} went from {d.before:.3f} to {d.after:.3f} ({_why(d)})",
                  f"  - {mix_hint(run, stage)}"]
    return lines + [""]


def mix_hint(run: RunData, stage_name: str) -> str:
    """The stage `mix` (`posttrain.data.mix`) that would address a regression in stage `stage_name`: a larger
    share when it already mixes; else replaying the data of the last earlier stage of its format, or general
    data of its format when there is none."""
    stages = list(run.stages)
    index = next((i for i, s in enumerate(stages) if s.output_dir.name == stage_name), len(stages) - 1)
    stage = stages[index]
    fmt = stage.data.get("format", "")
    mixed = stage.data.get("mix") or []
    if isinstance(mixed, list) and len(mixed) > 1:
        share = sum(float(part.get("share", 0)) for part in mixed[1:] if isinstance(part, dict))
        return f"to keep it, raise the share of this stage's mix from {share:.0%} to {min(0.5, 2 * share):.0%}"
    earlier = [s for s in stages[:index] if s.data.get("format") == fmt and s.data.get("source")]
    source = str(earlier[-1].data["source"]) if earlier else f"<general {fmt} data>"
    return (f"to keep it, replay other data while this stage trains: mix=[{{'data': '{source}', 'share': 0.2}}] "
            f"({'the data of ' + earlier[-1].output_dir.name if earlier else 'rows of the stage format'}, "
            "never the eval's own items)")


def stage_table(run: RunData) -> list[str]:
    """One row per stage: data, rows, training time, final loss, first and last value of its main metric."""
    lines = ["| stage | data | rows | time (s) | final loss | first → last logged |", "|---|---|---|---|---|---|"]
    for s in run.stages:
        key = _main_metric(s)
        _, values = s.series(key) if key else ([], [])
        change = f"{key}: {values[0]:.4g} → {values[-1]:.4g}" if values else ""
        loss = s.metrics.get("train_loss")
        lines.append(f"| {s.output_dir.name} | `{s.data.get('source', '')}` | {s.data.get('rows', '')} | "
                     f"{s.seconds:.0f} | {loss if loss is None else f'{loss:.4g}'} | {change} |")
    return lines + [""]


def stage_section(stage: StageResult, plots_dir: Path, root: Path, note: str = "", level: int = 2) -> list[str]:
    """A stage's heading, what it shows, its one before/after table and its plots."""
    lines = ["#" * level + f" {stage.output_dir.name}", ""]
    if note:
        lines += [note, ""]
    deltas = stage.eval_deltas()
    lines += [f"**What this shows:** {what_this_shows(stage.output_dir.name, deltas)}", ""]
    shown = {k: v for k, v in stage.metrics.items() if k in SUMMARY or k.startswith("reward_failures")}
    facts = [f"{k.replace('_', ' ')} {_fmt(v)}" for k, v in shown.items()]
    lines += [f"Training: {stage.data.get('rows', '?')} rows, {stage.seconds:.0f} s"
              + ("; " + ", ".join(facts) if facts else "") + ".", ""]
    if deltas:
        from posttrain.evals import deltas_table

        lines += [deltas_table(deltas), ""] + group_lines(stage.evals)
    for plot in stage_plots(stage.kind):
        image = _plot(stage, plot.keys, plot.title, plots_dir / f"{stage.output_dir.name}_{plot.name}.png")
        if image is not None:
            lines += [f"![{stage.output_dir.name}: {plot.title}]({image.relative_to(root).as_posix()})", ""]
    return lines


def stage_plots(kind: str) -> tuple[Plot, ...]:
    """The report's curves for a stage: its loss, its method's own (`StageSpec.plots`, named and titled for the
    method), its learning rate. A kind no longer registered: loss and learning rate."""
    from posttrain.errors import PosttrainError
    from posttrain.stages import get_stage

    try:
        spec = get_stage(kind)
    except PosttrainError:
        return LOSS_PLOT, LEARNING_RATE_PLOT
    return LOSS_PLOT, *(plot.for_kind(spec.kind) for plot in spec.plots), LEARNING_RATE_PLOT


def group_lines(evals: dict) -> list[str]:
    """One line per eval that scores groups of its items (`accuracy/<group>` metrics, e.g. MathAccuracy's
    `group_by`): each group's accuracy before → after, so a total that barely moved shows where it did."""
    before = (evals.get("before") or {}).get("results", {})
    after = (evals.get("after") or {}).get("results", {})
    lines = []
    for name, result in after.items():
        old, new = (before.get(name) or {}).get("metrics") or {}, result.get("metrics") or {}
        keys = [key for key in new if key.startswith("accuracy/") and key in old]
        if keys:
            groups = ", ".join(f"{key.split('/', 1)[1]} {old[key]:.2f} → {new[key]:.2f}" for key in keys)
            lines += [f"{name} by group: {groups}.", ""]
    return lines


def what_this_shows(stage_name: str, deltas: list[EvalDelta]) -> str:
    """One sentence from a stage's before/after evals: what improved (with the paired evidence), what
    regressed, or that nothing moved beyond noise."""
    if not deltas:
        return f"{stage_name} ran without evals, so nothing is measured here."
    improved = [f"{d.name} {d.before:.2f} → {d.after:.2f}" + (f" ({d.fixed} fixed, {d.broken} broken, "
                                                              f"p={d.p_value:.2g})" if d.fixed is not None else "")
                for d in deltas if d.improved]
    regressed = [d.name for d in deltas if d.regressed]
    text = ("it improved " + "; ".join(improved)) if improved else "no eval moved beyond its noise"
    text += (". Regressed: " + ", ".join(regressed) + ".") if regressed else "; no eval regressed."
    undecided = [f"{d.name} ({d.fixed} fixed, {d.broken} broken)" for d in deltas if d.undecided]
    if undecided:
        from posttrain.evals.compare import decisive_count

        text += (" Too few items changed to decide on " + "; ".join(undecided) + ": a paired test needs at least "
                 f"{decisive_count()} changed items for p < 0.05, so score these evals on more items.")
    return text[0].upper() + text[1:]


def _report_metrics(kind: str) -> tuple[str, ...]:
    """The stage's main curves from its method's registry entry (a kind no longer registered: its loss)."""
    from posttrain.errors import PosttrainError
    from posttrain.stages import get_stage

    try:
        return get_stage(kind).report_metrics
    except PosttrainError:
        return ("loss",)


def _main_metric(stage: StageResult) -> str | None:
    for key in _report_metrics(stage.kind):
        if stage.series(key)[1]:
            return key
    return None


def _why(delta: EvalDelta) -> str:
    return f"items fixed / broken: {delta.paired}" if delta.paired else "beyond its confidence interval"


def _plot(stage: StageResult, keys: tuple[str, ...], label: str, path: Path) -> Path | None:
    series = {k: stage.series(k) for k in keys if stage.series(k)[1]}
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 2.8))
    for key, (steps, values) in series.items():
        ax.plot(steps, values, marker="o" if len(steps) < 30 else None, label=key)
    ax.set_xlabel("step")
    ax.set_title(f"{stage.output_dir.name}: {label}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# --- the HTML page --------------------------------------------------------------------------------------------------

STYLE = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;
color:#1f2328;line-height:1.45}h1{border-bottom:2px solid #d0d7de}h2{border-bottom:1px solid #d0d7de;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}th,td{border:1px solid #d0d7de;padding:.3em .6em;
text-align:left;vertical-align:top}th{background:#f6f8fa}tr:nth-child(even) td{background:#fbfcfd}
code{background:#f6f8fa;padding:0 .25em;border-radius:3px;font-size:.9em}.row{display:flex;flex-wrap:wrap;gap:1.2em;
align-items:flex-start}.row>div{flex:1 1 460px;min-width:0;overflow-x:auto}figure{margin:.4em 0}
figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.85em;color:#57606a}
nav{background:#f6f8fa;padding:.5em 1em;border-radius:6px}nav a{margin-right:1em}"""


def write_html(markdown_path: str | Path, title: str | None = None) -> Path:
    """`<stem>.html` beside a report's markdown: the same page, its images inlined, openable anywhere."""
    source = Path(markdown_path)
    text = source.read_text(encoding="utf-8")
    target = source.with_suffix(".html")
    target.write_text(markdown_to_html(text, source.parent, title), encoding="utf-8")
    return target


def markdown_to_html(text: str, base: Path, title: str | None = None) -> str:
    """The report's markdown as one HTML page, parsed and rendered by markdown-it-py (CommonMark with tables;
    raw HTML in the text is escaped, not passed through). Around it, what makes the page self-contained:
    images are read from `base` and inlined as base64 figures (a missing one raises FileNotFoundError naming
    it), links become their text (the page points nowhere else), a table followed by images is laid out
    beside them, and h2 sections get ids and a contents bar."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.add_render_rule("image", lambda renderer, tokens, index, options, env: _figure(tokens[index], base))
    tokens = md.parse(text)
    headings: list[tuple[int, str]] = []
    for index, token in enumerate(tokens):
        if token.type == "inline" and token.children is not None:
            token.children = [child for child in token.children if child.type not in ("link_open", "link_close")]
        if token.type == "heading_open":
            content = tokens[index + 1].content
            token.attrSet("id", _anchor(content))
            headings.append((int(token.tag[1]), content))
    title = title or next((content for level, content in headings if level == 1), "posttrain report")
    nav = "".join(f'<a href="#{_anchor(content)}">{md.renderInline(content)}</a>'
                  for level, content in headings if level == 2)
    blocks = _top_level(tokens)
    body, index = [], 0
    while index < len(blocks):
        block = blocks[index]
        if block[0].type == "table_open" and index + 1 < len(blocks) and _images_only(blocks[index + 1]):
            end = index + 1
            while end < len(blocks) and _images_only(blocks[end]):
                end += 1
            figures = "".join(_render_block(md, b) for b in blocks[index + 1:end])
            body.append(f'<div class="row"><div>{_render_block(md, block)}</div><div>{figures}</div></div>')
            index = end
            continue
        body.append(_render_block(md, block))
        if block[0].type == "heading_open" and block[0].tag == "h1" and nav:
            body.append(f"<nav>{nav}</nav>")
        index += 1
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>'
            f'<body>\n' + "\n".join(body) + "\n</body></html>\n")


def _top_level(tokens: list[Token]) -> list[list[Token]]:
    """The parsed tokens grouped into top-level blocks (a heading, a paragraph, a table, a list)."""
    blocks: list[list[Token]] = []
    depth = 0
    for token in tokens:
        if depth == 0:
            blocks.append([])
        blocks[-1].append(token)
        depth += token.nesting
    return blocks


def _images_only(block: list[Token]) -> bool:
    """A paragraph that holds nothing but images (the report's plots)."""
    if len(block) != 3 or block[0].type != "paragraph_open" or not block[1].children:
        return False
    return all(child.type == "image" or (child.type in ("softbreak", "text") and not child.content.strip())
               for child in block[1].children) and any(child.type == "image" for child in block[1].children)


def _render_block(md: MarkdownIt, block: list[Token]) -> str:
    """A block as HTML; a paragraph of images as its figures alone (a figure may not sit in a paragraph)."""
    if _images_only(block):
        return str(md.renderer.render(block[1:2], md.options, {}))
    return str(md.renderer.render(block, md.options, {})).strip()


def _figure(token: Token, base: Path) -> str:
    """An image inlined from `base` as a figure captioned with its alt text."""
    src = str(token.attrGet("src") or "")
    alt = token.content
    path = base / src
    if not path.is_file():
        raise FileNotFoundError(f"report image {src!r} not found under {base}: the page would show a "
                                "broken image. Fix: write the plot before rendering the page")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(alt, quote=True)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(alt)}</figcaption></figure>")


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
