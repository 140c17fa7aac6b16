"""Hostile pipelines: only Python reward functions, and writes only inside the output folder."""

from __future__ import annotations


import pytest

from posttrain import ConfigError, Trainer


def _problems(trainer: Trainer) -> str:
    with pytest.raises(ConfigError) as err:
        trainer.validate()
    return str(err.value)


# -- hostile pipelines -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reward", ["os.system", "builtins.exec", "subprocess.Popen", "os.path", "__import__",
                                    "posttrain.rewards.RewardFn", "os.system; rm -rf /"])
def test_a_yaml_pipeline_can_name_only_python_reward_functions(tiny_dir, tmp_path, reward):
    spec = {"model": str(tiny_dir), "output_dir": str(tmp_path / "run"),
            "stages": [{"kind": "grpo", "data": [{"prompt": "2+2?", "answer": "4"}], "rewards": [reward]}]}
    message = _problems(Trainer.from_dict(spec))
    assert "rewards[0]" in message
    assert not (tmp_path / "run").exists()


def test_a_run_writes_only_inside_its_output_folder(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rows.jsonl").write_text("".join(f'{{"prompt": "Say {i}.", "completion": "{i}"}}\n' for i in range(8)))
    before = {p for p in tmp_path.rglob("*")}
    spec = {"model": str(tiny_dir), "output_dir": "out", "report_to": "tensorboard",
            "stages": [{"kind": "sft", "data": "rows.jsonl", "max_steps": 2, "batch_size": 4}]}
    Trainer.from_dict(spec, base_dir=tmp_path).run(progress=False)
    new = {p for p in tmp_path.rglob("*")} - before
    assert new and all(p == tmp_path / "out" or (tmp_path / "out") in p.parents for p in new), \
        sorted(str(p) for p in new if (tmp_path / "out") not in p.parents)
