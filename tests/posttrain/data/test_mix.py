"""Mixing and replay per stage (posttrain.data.mix): a stated share of the stage's rows drawn from other data,
the same rows under the same seed, in the stage data's format, shown in plan() and recorded in stage.json."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from posttrain import Trainer
from posttrain.data import load_data
from posttrain.data.mix import mix, mix_counts
from posttrain.errors import ConfigError
from posttrain.stages import make_settings

OWN = [{"prompt": f"Add {i} and {i}.", "completion": str(2 * i)} for i in range(80)]
GENERAL = [{"prompt": f"Name a colour ({i}).", "completion": "blue"} for i in range(50)]
TINY = [{"prompt": "Say hi.", "completion": "hi"}, {"prompt": "Say bye.", "completion": "bye"}]


def mixed(seed: int, sources: list[dict], own=OWN):
    settings = make_settings("sft", "stage 1", mix=sources)
    return mix(load_data(own), "own.jsonl", settings.mix, ("prompt_completion", "messages"), "stage 1 (sft)", seed)


def test_the_same_seed_draws_the_same_rows_in_the_same_order():
    sources = [{"data": GENERAL, "share": 0.2}]
    (one, _, _), (again, _, _), (other, _, _) = mixed(3, sources), mixed(3, sources), mixed(4, sources)
    assert one.rows == again.rows and one.fingerprint == again.fingerprint
    assert one.rows != other.rows


def test_each_source_is_its_stated_share_of_the_stages_rows():
    data, parts, problems = mixed(0, [{"data": GENERAL, "share": 0.2}, {"data": TINY, "share": 0.05}])
    assert problems == []
    assert mix_counts(80, [0.2, 0.05]) == [21, 5]                     # 80 own rows are 75% of 106.7
    assert len(data) == 80 + 21 + 5
    counts = Counter("own" if row in OWN else "general" if row in GENERAL else "tiny" for row in data.rows)
    assert counts == {"own": 80, "general": 21, "tiny": 5}
    assert all(row in data.rows for row in OWN)                        # the stage's own data stays whole
    assert len({json.dumps(row) for row in data.rows if row in GENERAL}) == 21    # no repeats while it lasts
    assert sorted(Counter(json.dumps(r) for r in data.rows if r in TINY).values()) == [2, 3]   # repeated evenly
    assert [(p["data"], p["share"], p["rows"]) for p in parts] == [
        ("own.jsonl", 0.75, 80), ("<50 rows in memory>", 0.2, 21), ("<2 rows in memory>", 0.05, 5)]


def test_the_plan_shows_the_rows_from_each_source(tiny_dir, tmp_path):
    replay = tmp_path / "replay.jsonl"
    replay.write_text("".join(json.dumps(row) + "\n" for row in GENERAL), encoding="utf-8")
    trainer = Trainer(tiny_dir, output_dir=tmp_path / "run").sft(OWN, mix=[{"data": replay, "share": 0.2}])
    assert f"mix: 80 rows (80%) from <80 rows in memory> + 20 rows (20%) from {replay}" in str(trainer.plan())
    assert trainer.plan().stages[0].settings == {}                      # shown on its own line, not as rows
    [data] = trainer.validate()
    assert len(data) == 100


def test_a_source_of_another_format_is_refused_with_the_fix(tiny_dir, tmp_path):
    pairs = [{"prompt": "Who are you?", "chosen": "Ava.", "rejected": "A bot."}]
    with pytest.raises(ConfigError) as err:
        Trainer(tiny_dir, output_dir=tmp_path / "run").sft(OWN, mix=[{"data": pairs, "share": 0.1}]).validate()
    text = str(err.value)
    assert "stage 1 (sft), mix[0] data <1 rows in memory>" in text and "preference" in text
    chats = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}]
    _, _, problems = mixed(0, [{"data": chats, "share": 0.1}])
    assert "is messages (chat messages), the stage's data is prompt_completion" in problems[0].message
    assert "give rows of the stage's format, like" in problems[0].fix
    with pytest.raises(ConfigError) as err:
        Trainer(tiny_dir).sft(OWN, mix=[{"data": GENERAL, "share": 0.6}, {"data": TINY, "share": 0.4}])
    assert "the shares add up to 1" in str(err.value) and "less than 1" in str(err.value)


def test_the_mix_is_recorded_in_stage_json_and_survives_yaml(tiny_dir, tmp_path):
    settings = {"mix": [{"data": TINY, "share": 0.25}], "max_steps": 1, "batch_size": 2}
    chained = Trainer(tiny_dir, output_dir=tmp_path / "run").sft(OWN[:6], **settings)
    chained.to_yaml(tmp_path / "pipeline.yaml")
    assert Trainer.from_yaml(tmp_path / "pipeline.yaml") == chained
    assert Trainer.from_dict({"model": str(tiny_dir), "output_dir": str(tmp_path / "run"),
                              "stages": [{"kind": "sft", "data": OWN[:6], **settings}]}) == chained
    run = chained.run(progress=False)
    record = json.loads((run.stages[0].output_dir / "stage.json").read_text(encoding="utf-8"))
    assert record["data"]["rows"] == 8
    assert record["data"]["mix"] == [{"data": "<6 rows in memory>", "share": 0.75, "rows": 6},
                                     {"data": "<2 rows in memory>", "share": 0.25, "rows": 2}]


def test_a_pipeline_file_reads_its_mix_files_from_its_own_folder(tiny_dir, tmp_path):
    (tmp_path / "own.jsonl").write_text("".join(json.dumps(row) + "\n" for row in OWN[:8]), encoding="utf-8")
    (tmp_path / "general.jsonl").write_text("".join(json.dumps(row) + "\n" for row in GENERAL), encoding="utf-8")
    (tmp_path / "pipeline.yaml").write_text(
        f"model: {tiny_dir}\nstages:\n- kind: sft\n  data: own.jsonl\n  mix:\n  - data: general.jsonl\n"
        "    share: 0.2\n", encoding="utf-8")
    trainer = Trainer.from_yaml(tmp_path / "pipeline.yaml")
    assert trainer.stages[0].settings.mix[0].data == str(tmp_path / "general.jsonl")
    [data] = trainer.validate()
    assert len(data) == 10 and sum(row in GENERAL for row in data.rows) == 2
