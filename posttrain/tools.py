"""Tools a model calls during an episode: guarding them, checking them, and a calculator built in.

A tool is a Python function with type hints and a Google-style docstring (`Args:` describing every
argument): transformers turns it into the JSON schema the chat template shows the model. An
environment is a class (or any factory) whose instances have `reset(**row)` (returning None or text
appended to the prompt), public methods that are its tools, and optionally `get_reward()` scoring
the episode from the environment's state (TRL's `environment_factory` contract).

Every tool the library runs goes through `guard_tool`: a call that raises, or runs past its time
limit, returns an error message as the tool's reply (the model reads it and can go on), so no tool
can end a training run or an eval. The limit interrupts the call in the main thread (SIGALRM, as
reward functions are limited); elsewhere the call runs in a helper thread that is abandoned at the
limit.

>>> from posttrain.tools import calculator, guard_tool
>>> calculator("(12 + 7) * 3")
'57'
>>> guard_tool(calculator, timeout_s=5)("2 ** 99999")
'error: calculator failed: ValueError: exponent 99999 is too large (at most 64)'
"""

from __future__ import annotations

import ast
import functools
import inspect
import operator
import threading
from collections.abc import Callable
from typing import Any

from posttrain.errors import Problem, short
from posttrain.reward_guard import TimeLimit, _alarm_usable

__all__ = ["calculator", "Calculator", "guard_tool", "guard_environment", "tool_schema", "tool_problems",
           "environment_problems", "environment_tools", "ToolCounter", "reply_dropped", "EpisodeWatch"]


# --- the built-in calculator ---------------------------------------------------------------------------------

_OPS: dict[type, Callable[..., Any]] = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
                                        ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv,
                                        ast.Mod: operator.mod, ast.Pow: operator.pow}
_UNARY: dict[type, Callable[..., Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _value(node: ast.AST) -> float | int:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise ValueError(f"exponent {right} is too large (at most 64)")
        return _OPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_value(node.operand))
    raise ValueError(f"{ast.unparse(node)!r} is not arithmetic (numbers, + - * / // % ** and brackets)")


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression and return its value.

    Args:
        expression: The arithmetic to compute, with numbers, + - * / and brackets, e.g. "(12 + 7) * 3".
    """
    text = str(expression).replace("x", "*").replace("×", "*").replace("÷", "/").strip()
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ValueError(f"{short(expression)} is not an arithmetic expression") from None
    result = _value(tree.body)         # parsed and walked: nothing the model writes is ever executed
    if isinstance(result, float) and result.is_integer():
        result = int(result)
    return str(round(result, 6) if isinstance(result, float) else result)


class Calculator:
    """An environment for arithmetic word problems: one `calculator` tool per episode, counting its calls.
    It owns no reward: the episode's final answer is checked against the row's `answer` by a reward
    function (`posttrain.rewards.math_accuracy` reads the last reply of the model, after the tool turns)."""

    def reset(self, **row: Any) -> None:
        self.calls = 0

    def calculator(self, expression: str) -> str:
        """Evaluate an arithmetic expression and return its value.

        Args:
            expression: The arithmetic to compute, with numbers, + - * / and brackets, e.g. "(12 + 7) * 3".
        """
        self.calls += 1
        return calculator(expression)


# --- guarding ------------------------------------------------------------------------------------------------

class ToolCounter:
    """Counts of tool replies that were errors, by cause ('error', 'timeout'), over every guarded tool
    that shares it."""

    def __init__(self) -> None:
        self.calls = 0
        self.failed = {"error": 0, "timeout": 0}


def _call_limited(fn: Callable[..., Any], args: tuple, kwargs: dict, timeout_s: float) -> tuple[str, Any]:
    """('ok', value), ('error', exception) or ('timeout', None)."""
    if threading.current_thread() is threading.main_thread() and _alarm_usable():
        limit = TimeLimit(timeout_s)
        try:
            with limit:
                value = fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - a tool's failure is the model's to read, never the run's end
            return "error", err
        return ("timeout", None) if limit.expired else ("ok", value)
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001
            box["error"] = err

    worker = threading.Thread(target=work, daemon=True, name=f"tool-{getattr(fn, '__name__', 'tool')}")
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        return "timeout", None
    return ("error", box["error"]) if "error" in box else ("ok", box.get("value"))


def guard_tool(fn: Callable[..., Any], timeout_s: float = 10.0, counter: ToolCounter | None = None) -> Callable:
    """`fn` with the same name, signature, type hints and docstring (so its schema is unchanged), whose
    failures are replies: an exception becomes 'error: <name> failed: <type>: <message>', a call past
    `timeout_s` 'error: <name> ran past its limit of <n> s'. Counted in `counter` when given."""
    name = getattr(fn, "__name__", "tool")

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if counter is not None:
            counter.calls += 1
        outcome, value = _call_limited(fn, args, kwargs, timeout_s)
        if outcome == "ok":
            return value
        if counter is not None:
            counter.failed[outcome] += 1
        if outcome == "timeout":
            return f"error: {name} ran past its limit of {timeout_s:g} s"
        return f"error: {name} failed: {type(value).__name__}: {_clip(str(value))}"

    guarded.__posttrain_guarded__ = True  # type: ignore[attr-defined]
    return guarded


def reply_dropped(episode: object, max_turns: int) -> bool:
    """Whether an episode, as TRL hands it to reward functions (a list of messages), ends on a tool call
    that got no reply although the turn limit was not reached: TRL drops a tool's result (silently) when
    it would push the episode past `max_completion_length`, and the episode ends there.

    >>> call = {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f"}}]}
    >>> reply_dropped([call, {"role": "tool", "content": "1"}, call], max_turns=2)
    True
    >>> reply_dropped([call, {"role": "tool", "content": "1"}, call], max_turns=1)   # the limit, not the length
    False
    """
    if not isinstance(episode, list) or not episode or not isinstance(episode[-1], dict):
        return False
    last = episode[-1]
    if last.get("role") != "assistant" or not last.get("tool_calls"):
        return False
    answered = sum(1 for a, b in zip(episode, episode[1:]) if isinstance(a, dict) and isinstance(b, dict)
                   and a.get("role") == "assistant" and a.get("tool_calls") and b.get("role") == "tool")
    return answered < max_turns


class EpisodeWatch:
    """A reward function that also counts the episodes it scores (`episodes`) and those whose last tool
    call got no reply before the turn limit (`dropped`, see `reply_dropped`). Called like the function it
    wraps, with its `__name__`, so TRL logs it the same."""

    def __init__(self, fn: Callable[..., Any], max_turns: int) -> None:
        self.fn, self.max_turns = fn, max_turns
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)
        self.episodes = self.dropped = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        completions = kwargs.get("completions") or []
        self.episodes += len(completions)
        self.dropped += sum(reply_dropped(c, self.max_turns) for c in completions)
        return self.fn(*args, **kwargs)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


RESERVED = ("reset", "get_reward")


def environment_tools(cls: type) -> list[str]:
    """The names of an environment class's tools: its public functions other than reset and get_reward
    (what TRL exposes to the model)."""
    return [name for name, _ in inspect.getmembers(cls, predicate=inspect.isfunction)
            if not name.startswith("_") and name not in RESERVED]


_GUARDED_CLASSES: dict[tuple[type, float, int], type] = {}


def guard_environment(factory: Callable[[], Any], timeout_s: float = 10.0,
                      counter: ToolCounter | None = None) -> Callable[[], Any]:
    """A factory whose instances are `factory()`'s, with every tool method guarded (`guard_tool`).

    Each instance's class is swapped for a subclass of the same name that overrides the tool methods,
    so TRL (which lists the tools on the class and matches `get_reward` by exact class) sees the same
    names, signatures and docstrings."""
    def make() -> Any:
        instance = factory()
        cls = type(instance)
        key = (cls, timeout_s, id(counter))
        if key not in _GUARDED_CLASSES:
            members: dict[str, Any] = {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                       "__doc__": cls.__doc__}
            for name in environment_tools(cls):
                members[name] = guard_tool(getattr(cls, name), timeout_s, counter)
            _GUARDED_CLASSES[key] = type(cls.__name__, (cls,), members)
        instance.__class__ = _GUARDED_CLASSES[key]
        return instance

    make.__name__ = getattr(factory, "__name__", "environment")
    return make


# --- checks ------------------------------------------------------------------------------------------------

def tool_schema(fn: Callable[..., Any]) -> dict:
    """The JSON schema the chat template renders for `fn` (transformers' `get_json_schema`)."""
    from transformers.utils import get_json_schema

    return get_json_schema(fn)


def tool_problems(tools: list[Callable[..., Any]], where: str) -> list[Problem]:
    """Each tool is a function with type hints on every argument and a docstring describing it and each
    argument: what transformers needs to write the schema the model reads."""
    problems, names = [], set()
    for i, fn in enumerate(tools):
        name = getattr(fn, "__name__", repr(fn))
        at = f"{where}, tools[{i}] ({name})"
        if not callable(fn) or isinstance(fn, type):
            problems.append(Problem(at, f"is {short(fn)}, not a function",
                                    "give functions (or dotted paths to them); an environment class goes in "
                                    "environment="))
            continue
        try:
            tool_schema(fn)
        except Exception as err:  # noqa: BLE001 - transformers raises its own exception types here
            problems.append(Problem(at, f"cannot be described to the model ({type(err).__name__}: "
                                    f"{short(str(err), 160)})",
                                    "give it type hints on every argument and a Google-style docstring: a "
                                    "summary line, then 'Args:' with one line per argument"))
        if name in names:
            problems.append(Problem(at, f"has the name {name!r} of another tool", "give each tool its own name"))
        names.add(name)
    return problems


def environment_problems(factory: Callable[[], Any], where: str) -> tuple[list[Problem], list[Callable]]:
    """Build one environment the way the run will and check it: `reset` exists, and its tools pass
    `tool_problems`. Returns the problems and the (bound) tool methods."""
    at = f"{where}, setting 'environment'"
    try:
        instance = factory()
    except Exception as err:  # noqa: BLE001 - the user's factory: any failure is reported
        return [Problem(at, f"{getattr(factory, '__name__', factory)}() fails ({type(err).__name__}: "
                        f"{short(str(err), 160)})", "make the factory callable with no arguments")], []
    cls = type(instance)
    if not callable(getattr(instance, "reset", None)):
        return [Problem(at, f"{cls.__name__} has no reset() method",
                        "define reset(self, **row), returning None or text to append to the prompt")], []
    methods = [getattr(instance, name) for name in environment_tools(cls)]
    if not methods:
        return [Problem(at, f"{cls.__name__} has no public method for the model to call",
                        "define each tool as a public method with type hints and a docstring")], []
    return tool_problems(methods, f"{where}, environment {cls.__name__}"), methods
