"""GRPO with tools and environments: guarded tools, the checks before training, the pipeline file's trust
rules, and multi-turn episodes trained on the tiny model."""

from __future__ import annotations

import threading

import pytest
import yaml

from posttrain import Trainer
from posttrain.errors import ConfigError
from posttrain.tools import ToolCounter, calculator, guard_environment, guard_tool, tool_schema

PROMPTS = [{"prompt": "ping"}] * 8


def ping(n: int) -> str:
    """Ping.

    Args:
        n: A number.
    """
    return f"pong {n}"


def pong(n: int) -> str:
    """Pong.

    Args:
        n: A number.
    """
    return f"ping {n}"


def undocumented(n):
    return n


class Pinger:
    """An environment whose reward is whether the episode called a tool."""

    def reset(self, **row):
        self.calls = 0

    def ping(self, n: int) -> str:
        """Ping.

        Args:
            n: A number.
        """
        self.calls += 1
        return f"pong {n}"

    def pong(self, n: int) -> str:
        """Pong.

        Args:
            n: A number.
        """
        self.calls += 1
        return f"ping {n}"

    def get_reward(self) -> float:
        return float(self.calls > 0)


# --- guarding ------------------------------------------------------------------------------------------------

def test_a_raising_or_hanging_tool_replies_with_an_error_and_keeps_its_schema():
    released = threading.Event()

    def boom(n: int) -> str:
        """Fail.

        Args:
            n: A number.
        """
        raise RuntimeError(f"no {n}")

    def hang(n: int) -> str:
        """Hang.

        Args:
            n: A number.
        """
        released.wait(30)
        return "late"

    counter = ToolCounter()
    assert guard_tool(boom, 1, counter)(n=3) == "error: boom failed: RuntimeError: no 3"
    assert guard_tool(hang, 0.2, counter)(n=3) == "error: hang ran past its limit of 0.2 s"
    worker: dict[str, str] = {}                 # off the main thread the limit is a helper thread's
    thread = threading.Thread(target=lambda: worker.update(out=guard_tool(hang, 0.2, counter)(n=1)))
    thread.start()
    thread.join(10)
    released.set()
    assert worker["out"] == "error: hang ran past its limit of 0.2 s"
    assert counter.calls == 3 and counter.failed == {"error": 1, "timeout": 2}
    assert tool_schema(guard_tool(ping)) == tool_schema(ping)
    assert guard_tool(ping)(n=2) == "pong 2"


def test_an_environment_keeps_its_class_name_tools_and_reward_when_guarded():
    make = guard_environment(Pinger, timeout_s=1)
    env = make()
    assert type(env).__name__ == "Pinger" and isinstance(env, Pinger)
    env.reset()
    assert env.ping(n=1) == "pong 1" and env.get_reward() == 1.0
    assert tool_schema(env.ping)["function"]["name"] == "ping"
    assert env.ping(n="x" * 3, extra=1).startswith("error: ping failed: TypeError")


def test_the_calculator_computes_and_never_executes_text():
    assert calculator("(12 + 7) * 3") == "57" and calculator("84 / 4") == "21" and calculator("7 x 6") == "42"
    with pytest.raises(ValueError, match="not arithmetic"):
        calculator("__import__('os').system('true')")


# --- checks before training -------------------------------------------------------------------------------------

def _problems(trainer: Trainer) -> str:
    with pytest.raises(ConfigError) as err:
        trainer.validate()
    return " ".join(str(err.value).split())


def test_validate_names_the_template_fix_for_a_model_whose_template_drops_tools(tiny_dir, tmp_path):
    message = _problems(Trainer(str(tiny_dir), output_dir=tmp_path / "run").grpo(PROMPTS, environment=Pinger))
    assert "chat_template='chatml-tools'" in message and "tool definitions" in message
    assert not (tmp_path / "run").exists()


def test_validate_refuses_an_undocumented_tool_and_tools_on_rloo(tiny_dir, tmp_path):
    message = _problems(Trainer(str(tiny_dir), output_dir=tmp_path / "run")
                        .grpo(PROMPTS, rewards=["posttrain.rewards.contains"], tools=[undocumented],
                              chat_template="chatml-tools"))
    assert "tools[0] (undocumented)" in message and "docstring" in message
    message = _problems(Trainer(str(tiny_dir), output_dir=tmp_path / "run")
                        .rloo(PROMPTS, environment=Pinger, chat_template="chatml-tools"))
    assert "RLOO trainer (1.16) runs no tool calls" in message and ".grpo(" in message


def test_plan_shows_the_tools_and_environment(tiny_dir, tmp_path):
    text = str(Trainer(str(tiny_dir), output_dir=tmp_path / "run")
               .grpo(PROMPTS, tools=[ping, pong], environment=Pinger, max_tool_turns=3).plan())
    assert "'tools': ['ping', 'pong']" in text and "'environment': 'Pinger'" in text and "'max_tool_turns': 3" in text


def test_a_pipeline_file_naming_a_tool_outside_the_allow_list_is_refused_before_import(tiny_dir, tmp_path,
                                                                                       monkeypatch):
    elsewhere, mark = tmp_path / "elsewhere", tmp_path / "imported"
    elsewhere.mkdir()
    (elsewhere / "outside_tools.py").write_text(f"open({str(mark)!r}, 'w').close()\n"
                                                "def tool(n: int) -> int:\n    '''T.\n\n    Args:\n"
                                                "        n: N.\n    '''\n    return n\n"
                                                "class Env:\n    def reset(self, **row): pass\n")
    monkeypatch.syspath_prepend(str(elsewhere))
    folder = tmp_path / "pipeline"
    folder.mkdir()
    for key, value in (("tools", ["outside_tools.tool"]), ("environment", "outside_tools.Env")):
        path = folder / f"{key}.yaml"
        path.write_text(yaml.safe_dump({"model": str(tiny_dir), "output_dir": str(tmp_path / "run"), "stages": [
            {"kind": "grpo", "data": PROMPTS, "rewards": ["posttrain.rewards.contains"], key: value,
             "chat_template": "chatml-tools"}]}))
        message = _problems(Trainer.from_yaml(path))
        assert "is refused" in message and "not imported" in message
    assert not mark.exists() and not (tmp_path / "run").exists()
    path = folder / "library.yaml"                       # the library's own calculator is allowed
    path.write_text(yaml.safe_dump({"model": str(tiny_dir), "output_dir": str(tmp_path / "run"), "stages": [
        {"kind": "grpo", "data": PROMPTS, "environment": "posttrain.tools.Calculator",
         "rewards": ["posttrain.rewards.contains"], "chat_template": "chatml-tools"}]}))
    assert "Calculator" in str(Trainer.from_yaml(path).plan())


# --- multi-turn episodes in a real GRPO run --------------------------------------------------------------------

CALL = '<tool_call>\n{"name": "ping", "arguments": {"n": 1}}\n</tool_call>'


@pytest.fixture(scope="module")
def caller(tmp_path_factory):
    """The tiny model taught to answer 'ping' with a call of the ping tool, saved with `chatml-tools`."""
    from posttrain.testing import tool_caller

    return tool_caller(tmp_path_factory.mktemp("caller"), [CALL], [ping], steps=150, lr=3e-3)


def _episodes_seen(seen: list):
    def reward(completions, **kwargs):
        seen.extend(completions)
        return [1.0 if isinstance(c, list) and any(m.get("role") == "tool" for m in c) else 0.0 for c in completions]
    return reward


def test_a_raising_and_a_hanging_tool_end_as_tool_messages_in_training(caller, tmp_path):
    import time

    def ping(n: int) -> str:
        """Ping.

        Args:
            n: A number.
        """
        if n == 1:
            raise RuntimeError("backend down")
        return "pong"

    def slow_ping(n: int) -> str:
        """Ping, slowly.

        Args:
            n: A number.
        """
        time.sleep(30)
        return "late"

    for tool, expected in ((ping, "RuntimeError: backend down"), (slow_ping, "")):
        seen: list = []
        tool.__name__ = "ping"                        # the name the model calls
        run = (Trainer(str(caller), output_dir=str(tmp_path / tool.__qualname__))
               .grpo(PROMPTS[:2], rewards=[_episodes_seen(seen)], tools=[tool], tool_timeout_s=0.5, num_generations=2,
                     batch_size=2, max_steps=1, max_completion_length=64, temperature=0.05, allow_no_learning=True)
               .run(progress=False))
        replies = [m["content"] for c in seen if isinstance(c, list) for m in c if m.get("role") == "tool"]
        assert replies, f"no episode reached its tool: {seen}"
        # the hanging call is cut at its limit: its reply is the error, never the "late" it would return
        assert all(r.startswith("error:") and expected in r for r in replies), replies
        assert run.stages[-1].metrics["tool_calls"] >= len(replies)




def test_episodes_whose_tool_result_did_not_fit_are_counted(caller, tmp_path):
    """TRL drops a tool's result that would push an episode past max_completion_length and ends the episode
    on its call; the stage counts such episodes (a budget that holds the call but not its reply)."""
    from posttrain import load_model

    _, tokenizer = load_model(str(caller))
    budget = len(tokenizer(CALL + "<|im_end|>", add_special_tokens=False)["input_ids"]) + 2
    seen: list = []
    run = (Trainer(str(caller), output_dir=str(tmp_path / "run"))
           .grpo(PROMPTS[:2], rewards=[_episodes_seen(seen)], tools=[ping], num_generations=2, batch_size=2,
                 max_steps=1, max_completion_length=budget, temperature=0.05, allow_no_learning=True)
           .run(progress=False))
    called = [c for c in seen if isinstance(c, list) and c and c[-1].get("tool_calls")]
    assert called, f"no episode called the tool: {seen}"
    assert not any(m.get("role") == "tool" for c in seen for m in c), "a tool result fitted the budget"
    assert run.stages[-1].metrics["tool_replies_dropped"] == len(called)


def test_reply_dropped_tells_a_dropped_result_from_the_turn_limit():
    from posttrain.tools import EpisodeWatch, reply_dropped

    call = {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "ping"}}]}
    result, answer = {"role": "tool", "content": "pong 1"}, {"role": "assistant", "content": "done"}
    assert reply_dropped([call], max_turns=2)
    assert not reply_dropped([call, result, answer], max_turns=2)
    assert not reply_dropped([call, result, call, result, call], max_turns=2)      # the turn limit
    assert not reply_dropped("plain text", max_turns=2)
    watch = EpisodeWatch(lambda completions, **kw: [1.0] * len(completions), max_turns=2)
    assert watch(prompts=["p", "p"], completions=[[call], [call, result, answer]]) == [1.0, 1.0]
    assert (watch.episodes, watch.dropped) == (2, 1)


@pytest.fixture(scope="module")
def sometimes_caller(tmp_path_factory):
    """The tiny model taught to answer 'ping' with a call of the ping tool or with a plain 'pong': sampled
    episodes call the tool about a third of the time."""
    from posttrain.testing import tool_caller

    return tool_caller(tmp_path_factory.mktemp("sometimes"), [CALL, "pong"], [ping], steps=150, lr=3e-3)


def _reply_logprob(folder, reply: str) -> float:
    """log p(reply | 'ping' with the ping tool offered) under the model saved in `folder`."""
    import torch

    from posttrain import load_model

    model, tokenizer = load_model(str(folder))
    text = tokenizer.apply_chat_template([{"role": "user", "content": "ping"}], tools=[ping], tokenize=False,
                                         add_generation_prompt=True)
    prompt = tokenizer(text, add_special_tokens=False)["input_ids"]
    ids = tokenizer(reply + "<|im_end|>", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + ids])).logits[0, len(prompt) - 1:-1].float()
    return float(torch.log_softmax(logits, -1).gather(1, torch.tensor(ids)[:, None]).sum())


def test_an_environments_own_reward_rises_over_a_few_grpo_steps(sometimes_caller, tmp_path):
    import math

    # No reward function: the environment's own get_reward (did the episode call a tool?) is the reward.
    run = (Trainer(str(sometimes_caller), output_dir=str(tmp_path / "run"), seed=1)
           .grpo([{"prompt": "ping"}] * 16, environment=Pinger, num_generations=16, batch_size=1, max_steps=10,
                 max_completion_length=32, learning_rate=5e-4, temperature=1.0, max_tool_turns=1, precision="fp32")
           .run(progress=False))
    stage = run.stages[-1]
    _, rewards = stage.series("reward")
    _, own = stage.series("rewards/Pinger/mean")
    assert len(rewards) == 10 and own == rewards, (rewards, own)
    assert sum(rewards[-3:]) > sum(rewards[:3]), rewards          # sampled: 16 episodes a step, a noisy view
    # the reward it is trained on, without the sampling noise: how likely the model is to make the call
    before = {r: _reply_logprob(sometimes_caller, r) for r in (CALL, "pong")}
    after = {r: _reply_logprob(run.model_dir, r) for r in (CALL, "pong")}
    assert math.exp(after[CALL]) > math.exp(before[CALL]) + 0.1, (before, after)
    assert after["pong"] < before["pong"], (before, after)
