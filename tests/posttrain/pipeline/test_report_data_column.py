"""The run report's data column, and the stage record behind it, name the data as the user gave it (a
path, or rows in memory), not the label error messages use ("stage 1 (sft) data ...")."""

from __future__ import annotations

import json

from posttrain import Trainer

ROWS = [{"prompt": f"Say the number {i}.", "completion": f"{i}"} for i in range(4)]


def test_the_report_shows_the_data_as_given(tiny_dir, tmp_path):
    path = tmp_path / "sft.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    run = (Trainer(tiny_dir, output_dir=tmp_path / "run").sft(str(path), max_steps=1, batch_size=2)
           .dpo([{"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."}] * 2, max_steps=1, batch_size=2)
           .run(progress=False))
    assert [s.data["source"] for s in run.stages] == [str(path), "<2 rows in memory>"]
    report = run.report(tmp_path / "report.md").read_text()
    assert f"| `{path}` |" in report and "| `<2 rows in memory>` |" in report
    assert "stage 1 (sft) data" not in report and "stage 2 (dpo) data" not in report
