"""posttrain.pipeline.methods: every built-in method's typed Trainer entry, its keywords its settings class's fields."""

from __future__ import annotations

import pydoc
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from posttrain import Trainer
from posttrain.pipeline import methodgen, methods
from posttrain.stages import BUILT_IN, get_stage

ROOT = Path(__file__).resolve().parents[3]


def test_the_eight_built_in_methods_each_have_an_entry():
    assert set(BUILT_IN) == {"pretrain", "sft", "dpo", "kto", "grpo", "rloo", "distill", "gkd"}
    for kind in BUILT_IN:
        assert kind in methods.StageMethods.__dict__, kind


def test_methods_py_is_generated_from_the_current_settings_classes():
    assert methodgen.TARGET.read_text(encoding="utf-8") == methodgen.source(), \
        "posttrain/pipeline/methods.py is stale: python -m posttrain.pipeline.methodgen"


@pytest.mark.parametrize("kind", BUILT_IN)
def test_each_entrys_keywords_are_its_settings_fields_with_their_types(kind):
    settings = get_stage(kind).settings
    options = getattr(methods, methodgen.options_name(kind))
    keywords = typing.get_type_hints(options)
    assert set(keywords) == set(settings.model_fields) - {"kind"}
    entry = getattr(methods.StageMethods, kind)
    assert f"Unpack[{options.__name__}]" in entry.__annotations__["settings"]
    for name, field in settings.model_fields.items():
        if name != "kind":
            assert keywords[name] == eval(methodgen.input_type(name, field), vars(methods)), (kind, name)  # noqa: S307


def test_an_entry_adds_its_stage_with_the_settings_given():
    rows = [{"prompt": "Hi", "completion": "Hello!"}]
    trainer = Trainer("default").kto(rows, beta=0.3).distill(rows, teacher="default")
    assert [s.kind for s in trainer.stages] == ["kto", "distill"]
    assert trainer.stages[0].settings.beta == 0.3


@pytest.mark.parametrize("kind", ["rloo", "gkd"])
def test_help_shows_every_setting_of_the_method(kind):
    shown = pydoc.render_doc(getattr(Trainer("default"), kind), renderer=pydoc.plaintext)
    for name in get_stage(kind).settings.model_fields:
        if name != "kind":
            assert f"{name} = " in shown, name
    assert get_stage(kind).summary.split(":")[0] in shown


@pytest.mark.parametrize("kind", ["grpo", "rloo"])
def test_a_single_reward_or_tool_is_a_list_of_one_for_every_sampling_method(kind):
    def reward(completions, **_):
        return [0.0 for _ in completions]

    rows = [{"prompt": "Hi"}]
    one = getattr(Trainer("default"), kind)(rows, rewards=reward).stages[0].settings
    path = getattr(Trainer("default"), kind)(rows, rewards="posttrain.rewards.math_accuracy").stages[0].settings
    both = getattr(Trainer("default"), kind)(rows, rewards=(reward, reward)).stages[0].settings
    assert one.rewards == [reward] and path.rewards == ["posttrain.rewards.math_accuracy"]
    assert both.rewards == [reward, reward]


def test_mypy_refuses_a_misspelt_setting_a_misspelt_method_and_a_wrong_type(tmp_path):
    snippet = ROOT / f"_typed_entries_{tmp_path.name}.py"          # in the tree, so mypy reads this posttrain
    snippet.write_text(
        "from posttrain import Trainer\n"
        "rows = [{'prompt': 'Hi', 'completion': 'Hello!'}]\n"
        "fine = Trainer('default').sft(rows, learning_rate=1e-5).rloo(rows, rewards=len).gkd(rows, teacher='x')\n"
        "typo = Trainer('default').sft(rows, lr=1e-5)\n"
        "wrong = Trainer('default').sfft(rows)\n"
        "kind = Trainer('default').dpo(rows, beta='high')\n", encoding="utf-8")
    try:
        done = subprocess.run([sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", snippet.name],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
    finally:
        snippet.unlink()
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["4", "5", "6"], done.stdout
    assert 'Unexpected keyword argument "lr"' in errors[0]
    assert 'has no attribute "sfft"' in errors[1]
    assert '"beta"' in errors[2]
