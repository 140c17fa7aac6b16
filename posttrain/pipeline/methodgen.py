"""Writes `posttrain/pipeline/methods.py`: one typed `Trainer` entry per built-in method, from its settings class.

Each entry takes the stage's data and its settings as keyword arguments typed by a `TypedDict` (`SFTOptions`, ...)
that lists every field of the method's settings class, so an editor offers them and mypy refuses a misspelt one
(`.sft(rows, lr=1e-5)`); the entry's docstring lists them for `help()`. Regenerate after changing a settings class
(a test keeps the file current):

    python -m posttrain.pipeline.methodgen
"""

from __future__ import annotations

import textwrap
import types
import typing
from pathlib import Path

from pydantic.fields import FieldInfo

TARGET = Path(__file__).with_name("methods.py")
WIDTH = 116
FIRST = {"pretrain": "corpus", "grpo": "prompts"}        # the data argument's name, where it is not `data`
CALLABLE_OR_PATH = "Callable[..., object] | str"
# What a user may pass where the settings class stores a normalised value (the class's validators turn one
# into the other): a single reward or tool as well as a list, a LoRA dict, mix sources as dicts.
INPUT_TYPES = {
    "lora": "LoraSettings | Mapping[str, object] | bool | None",
    "mix": "Sequence[MixSource | Mapping[str, object]]",
    "trl_args": "Mapping[str, object]",
    "rewards": f"{CALLABLE_OR_PATH} | Sequence[{CALLABLE_OR_PATH}]",
    "tools": f"{CALLABLE_OR_PATH} | Sequence[{CALLABLE_OR_PATH}]",
}


def render(annotation: object) -> str:
    """A settings field's annotation as source text, lists read as any sequence."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "None"
    if annotation is typing.Any:
        return "object"
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(render(a) for a in args)
    if origin is list:
        return f"Sequence[{render(args[0])}]"
    if origin is dict:
        return f"Mapping[{render(args[0])}, {render(args[1])}]"
    if isinstance(annotation, type):
        return annotation.__name__
    raise TypeError(f"no source text for the annotation {annotation!r}")


def input_type(name: str, field: FieldInfo) -> str:
    return INPUT_TYPES.get(name) or render(field.annotation)


def options_name(kind: str) -> str:
    return kind.upper() + "Options" if len(kind) <= 4 else kind.capitalize() + "Options"


def _default(field: FieldInfo) -> str:
    return repr(field.get_default(call_default_factory=True))


def _docstring(kind: str) -> list[str]:
    from posttrain.stages import get_stage

    spec = get_stage(kind)
    lines = textwrap.wrap(f'"""Add a {kind} stage: {spec.summary}.', WIDTH, initial_indent=" " * 8,
                          subsequent_indent=" " * 8)
    lines += ["", *textwrap.wrap(f"Data: {spec.data_hint}.", WIDTH, initial_indent=" " * 8, subsequent_indent=" " * 8),
              "", f"        Settings ({spec.settings.__name__}; `trl_args` takes any other field of trl.{spec.trl_config}):"]
    for name, field in spec.settings.model_fields.items():
        if name == "kind":
            continue
        about = f" {field.description}" if field.description else ""
        text = f"{name} = {_default(field)}.{about}".replace("\\", "\\\\")
        lines += textwrap.wrap(text, WIDTH, initial_indent=" " * 12, subsequent_indent=" " * 16)
    return lines + ['        """']


def shared_fields(methods: list[dict[str, str]]) -> dict[str, str]:
    """The fields (name and input type) that every method's settings have alike, in the first method's order."""
    first, *rest = methods
    return {name: text for name, text in first.items() if all(other.get(name) == text for other in rest)}


def source() -> str:
    """The text of `methods.py` for the methods the package registers itself."""
    from posttrain.stages import BUILT_IN, get_stage

    out = ['"""Typed `Trainer` entries for the built-in methods: generated from their settings classes by',
           "`python -m posttrain.pipeline.methodgen`; do not edit by hand (a test keeps it current).",
           "",
           "A plug-in method (`posttrain.stages.register`) is reached with `Trainer.add_stage(kind, data, **settings)`",
           'or, untyped, as `Trainer().<kind>(...)`."""',
           "",
           "from __future__ import annotations",
           "",
           "from collections.abc import Callable, Mapping, Sequence",
           "from typing import Literal, TypedDict",
           "",
           "from typing_extensions import Self, Unpack",
           "",
           "from posttrain.config import LoraSettings, MixSource",
           ""]
    fields = {kind: {name: input_type(name, field) for name, field in get_stage(kind).settings.model_fields.items()
                     if name != "kind"} for kind in BUILT_IN}
    shared = shared_fields(list(fields.values()))
    out += ["", "class StageOptions(TypedDict, total=False):",
            '    """The settings every built-in method takes, as keywords."""', ""]
    out += [f"    {name}: {kind}" for name, kind in shared.items()]
    out.append("")
    for kind in BUILT_IN:
        settings = get_stage(kind).settings
        out += ["", f"class {options_name(kind)}(StageOptions, total=False):",
                f'    """The settings of a {kind} stage (`{settings.__module__}.{settings.__name__}`), as keywords."""',
                ""]
        own = [f"    {name}: {text}" for name, text in fields[kind].items() if name not in shared]
        out += own or ["    pass"]
        out.append("")
    out += ["", "class StageMethods:",
            '    """One method per built-in stage kind; each adds that stage (`add_stage`)."""', "",
            "    def add_stage(self, kind: str, data: object, /, **settings: object) -> Self:",
            "        raise NotImplementedError", ""]
    for kind in BUILT_IN:
        first = FIRST.get(kind, "data")
        out += [f"    def {kind}(self, {first}: object, **settings: Unpack[{options_name(kind)}]) -> Self:",
                *_docstring(kind),
                f'        return self.add_stage("{kind}", {first}, **settings)', ""]
    return "\n".join(out).rstrip("\n") + "\n"


def main() -> None:
    TARGET.write_text(source(), encoding="utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
