"""The advisor's shape: no import loops (at import time or inside functions), one CLI error handler with
exit code 2, and a property of the decisions: adding data for a method never moves the advice away
from it."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest

from advisor import advise
from advisor.rules import APPROACH_PRECEDENCE

PACKAGE = Path(__file__).resolve().parents[2] / "advisor"


def advisor_imports() -> dict[str, set[str]]:
    """Each advisor module -> the advisor modules it imports, anywhere in the file (functions too)."""
    graph = {}
    for path in PACKAGE.glob("*.py"):
        name = "advisor" if path.stem == "__init__" else f"advisor.{path.stem}"
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "advisor":     # a parent is no back edge
                found.update(f"advisor.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("advisor."):
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name.startswith("advisor"))
        graph[name] = {module for module in found if module != name}
    # advisor/__init__ loads its exports by name (importlib); they are its edges too.
    from advisor import _EXPORTS

    graph["advisor"] |= set(_EXPORTS.values())
    return graph


def test_no_advisor_module_imports_one_that_imports_it_back():
    graph = advisor_imports()

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == target or (nxt not in seen and (seen.add(nxt) or reaches(nxt, target, seen))):
                return True
        return False

    loops = [name for name in graph if name != "advisor" and reaches(name, name, set())]
    assert not loops, f"import loops through {loops}"
    assert "advisor.guide" not in graph["advisor.rules"], "rendering the guide lives in guide.py"


def test_the_walk_sees_imports_inside_functions():
    assert "advisor.routing" in advisor_imports()["advisor.recommendation"]


def run_cli(args):
    import typer
    from typer.testing import CliRunner

    from advisor.cli import advise_command

    app = typer.Typer()
    app.command()(advise_command)
    return CliRunner().invoke(app, [str(arg) for arg in args])


@pytest.mark.parametrize("case", ["missing spec", "bad field", "bad data", "route fails"])
def test_every_cli_error_exits_2_with_its_message(tmp_path, case):
    spec = tmp_path / "spec.yaml"
    spec.write_text("needs_live_data: true\n")
    args = {"missing spec": [tmp_path / "none.yaml"],
            "bad field": [spec], "bad data": [spec, "--data", tmp_path / "bad.jsonl"],
            "route fails": [spec, "--run"]}[case]
    if case == "bad field":
        spec.write_text("num_instruction: 3\n")
    (tmp_path / "bad.jsonl").write_text('{"prompt": 3}\n')
    result = run_cli(args)
    assert result.exit_code == 2, result.output
    expected = {"missing spec": "spec file not found", "bad field": "did you mean 'num_instructions'",
                "bad data": "bad.jsonl", "route fails": "retrieval needs documents"}[case]
    assert expected in result.output


def test_the_cli_shows_the_runner_up(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("target_skills: [tone]\npreference_pairs: 6000\n")
    result = run_cli([spec])
    assert result.exit_code == 0 and "Runner-up" in result.output and "prompt_engineering" in result.output


# --- adding data for a method never moves the advice away from it -----------------------------------

CHOICES = {
    "num_instructions": [0, 2, 19, 20, 30],
    "target_skills": [[], ["sql"], ["math"], ["code"], ["tone"], ["identity"], ["safety"], ["chat"], ["tone", "sql"]],
    "needs_live_data": [False, True], "needs_private_knowledge": [False, True], "new_domain": [False, True],
    "domain_corpus_tokens": [0, 5_000_000, 999_999_999, 1_000_000_000],
    "labeled_examples": [0, 50, 999, 1000, 20_000], "preference_pairs": [0, 50, 999, 1000, 20_000],
    "rl_prompts": [0, 50, 999, 1000, 20_000], "verifiable_reward": [False, True],
    "must_be_reliable": [False, True], "model_kind": [None, "base", "instruct"],
}
# method -> the field that holds its data, and how much is added
MORE_DATA = {"sft": ("labeled_examples", 5000), "dpo": ("preference_pairs", 5000),
             "grpo": ("rl_prompts", 5000), "cpt": ("domain_corpus_tokens", 2_000_000_000)}


def sampled_specs(count: int, seed: int = 0) -> list[dict]:
    """`count` specs drawn from CHOICES, each field present half the time; the same on every run."""
    rng = random.Random(seed)
    return [{field: rng.choice(values) for field, values in CHOICES.items() if rng.random() < 0.5}
            for _ in range(count)]


def weight(approach: str) -> int:
    return len(APPROACH_PRECEDENCE) - APPROACH_PRECEDENCE.index(approach)


@pytest.mark.parametrize("method", sorted(MORE_DATA))
def test_adding_data_for_a_method_never_moves_away_from_it(method):
    field, amount = MORE_DATA[method]
    for spec in sampled_specs(400, seed=len(method)):
        before = advise(spec)
        after = advise({**spec, field: spec.get(field, 0) + amount})
        if method in before.stages:
            assert method in after.stages, (spec, before.stages, after.stages)
        assert weight(after.approach) >= weight(before.approach), (spec, before.approach, after.approach)
        if method not in after.stages and method != "cpt":
            # the data stays unused only when the spec cannot use it (no goal, or RL prompts without a
            # verifier), and then the advice does not change
            assert (after.approach, after.stages) == (before.approach, before.stages), spec
