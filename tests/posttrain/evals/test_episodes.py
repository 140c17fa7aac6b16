"""`ToolEpisodes`: multi-turn episodes with tools on the tiny model that calls them, scored by the answer or
by the environment's reward, with tool calls per episode, the turn-limit share and tool errors."""

from __future__ import annotations

import pytest

from posttrain.errors import DataError
from posttrain.evals import ToolEpisodes
from posttrain.testing import tool_caller
from posttrain.data.templates import parse_tool_calls

CALL = '<tool_call>\n{"name": "ping", "arguments": {"n": 1}}\n</tool_call>'
ROWS = [{"question": "ping", "answer": "1", "kind": "ping"}] * 3


def ping(n: int) -> str:
    """Ping.

    Args:
        n: A number.
    """
    return f"pong {n}"


class Pings:
    def reset(self, **row):
        self.calls = 0

    def ping(self, n: int) -> str:
        """Ping.

        Args:
            n: A number.
        """
        self.calls += 1
        if n == 1:
            raise RuntimeError("down")
        return "pong"

    def get_reward(self) -> float:
        return float(self.calls)


@pytest.fixture(scope="module")
def caller(tmp_path_factory):
    from posttrain.models import load_model

    # trained past the default 80 steps: the call is then far from a near tie, whatever the CPU's kernels
    return load_model(tool_caller(tmp_path_factory.mktemp("caller"), [CALL], [ping], steps=160))


def test_episodes_count_calls_and_the_turn_limit(caller):
    result = ToolEpisodes(ROWS, tools=[ping], max_turns=2, max_new_tokens=32).run(*caller)
    detail = result.details[0]
    assert [m["role"] for m in detail["episode"][:3]] == ["user", "assistant", "tool"]
    assert detail["episode"][2]["content"] == "pong 1", "the call ran and its result came back"
    tools = [sum(m["role"] == "tool" for m in d["episode"]) for d in result.details]
    assert result.metrics["tool_calls_per_episode"] == sum(tools) / len(tools) >= 1
    assert result.metrics["turn_limit_share"] == sum(d["hit_limit"] for d in result.details) / len(result.details)
    for d in result.details:                       # an episode at the limit still called in its last reply
        last_called = bool(parse_tool_calls(d["episode"][-1]["content"]))   # (a garbled call is a final answer)
        assert d["hit_limit"] == last_called and len(d["episode"]) <= 6


def test_an_environment_scores_episodes_and_its_failing_tool_replies_with_errors(caller):
    result = ToolEpisodes(ROWS, environment=Pings, max_turns=1, success_at=1.0, max_new_tokens=32).run(*caller)
    assert result.score == 1.0 and all(d["reward"] == 1.0 for d in result.details)
    assert result.details[0]["episode"][2]["content"] == "error: ping failed: RuntimeError: down"
    assert result.metrics["tool_error_share"] == 1.0
    sampled = ToolEpisodes(ROWS, environment=Pings, max_turns=1, samples=2, temperature=1.0,
                           max_new_tokens=32).run(*caller)
    assert sampled.metrics["avg@2"] == sampled.score and sampled.details[0]["k"] == 2


def test_bad_options_are_refused_before_any_model_runs():
    def bare(n):
        return n

    with pytest.raises(DataError, match="docstring"):
        ToolEpisodes(ROWS, tools=[bare])
    with pytest.raises(DataError, match="tools"):
        ToolEpisodes(ROWS)
    with pytest.raises(DataError, match="answer"):
        ToolEpisodes([{"question": "ping"}], tools=[ping])
