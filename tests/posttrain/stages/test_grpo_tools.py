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


# --- training on the tiny model -----------------------------------------------------------------------------------

CALLS = ('<tool_call>\n{"name": "ping", "arguments": {"n": 1}}\n</tool_call>\n'
         '<tool_call>\n{"name": "pong", "arguments": {"n": 2}}\n</tool_call><|im_end|>')


@pytest.fixture(scope="module")
def caller(tmp_path_factory):
    """The tiny model taught (plain next-token training, a few seconds) to answer "ping" half the time with
    two tool calls (ping, then pong) and half the time with "no", in the chatml-tools template."""
    import torch

    from posttrain.data.templates import CHATML_TOOLS
    from posttrain.testing import tiny_model

    model, tokenizer = tiny_model(seed=1)
    tokenizer.chat_template = CHATML_TOOLS
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "ping"}], tools=[ping, pong],
                                           tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    batch = []
    for target in (CALLS, "no<|im_end|>"):
        ids = tokenizer(target, add_special_tokens=False)["input_ids"]
        batch.append((torch.tensor([prompt_ids + ids]), torch.tensor([[-100] * len(prompt_ids) + ids])))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    torch.manual_seed(0)
    for _ in range(60):
        loss = sum(model(input_ids=x, labels=y).loss for x, y in batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.train(False)
    folder = tmp_path_factory.mktemp("caller")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_a_raising_and_a_hanging_tool_end_as_tool_messages(caller, tmp_path):
    seen: list = []
    released = threading.Event()

    def ping(n: int) -> str:  # noqa: F811 - the same names the model calls
        """Ping.

        Args:
            n: A number.
        """
        raise RuntimeError("ping is down")

    def pong(n: int) -> str:  # noqa: F811
        """Pong.

        Args:
            n: A number.
        """
        released.wait(30)
        return "late"

    def record(completions, **columns):
        seen.extend(completions)
        return [0.0 for _ in completions]

    run = (Trainer(str(caller), output_dir=tmp_path / "run", seed=0)
           .grpo(PROMPTS, rewards=[record], tools=[ping, pong], chat_template="chatml-tools", tool_timeout_s=0.5,
                 max_tool_turns=1, num_generations=8, batch_size=1, max_steps=1, max_completion_length=64,
                 learning_rate=1e-3).run(progress=False))
    released.set()
    tool_replies = [m["content"] for episode in seen for m in episode if m["role"] == "tool"]
    assert "error: ping failed: RuntimeError: ping is down" in tool_replies
    assert "error: pong ran past its limit of 0.5 s" in tool_replies
    metrics = run.stages[0].metrics
    assert metrics["tool_failures/error"] >= 1 and metrics["tool_failures/timeout"] >= 1
    assert (run.stages[0].model_dir / "config.json").exists()


def test_an_environments_own_reward_rises_over_a_few_steps(caller, tmp_path):
    run = (Trainer(str(caller), output_dir=tmp_path / "run", seed=0)
           .grpo(PROMPTS, environment=Pinger, chat_template="chatml-tools", max_tool_turns=1, num_generations=8,
                 batch_size=2, max_steps=6, max_completion_length=64, learning_rate=3e-3).run(progress=False))
    _, rewards = run.stages[0].series("rewards/Pinger/mean")
    assert len(rewards) == 6
    assert sum(rewards[-2:]) / 2 > sum(rewards[:2]) / 2 + 0.1, rewards
