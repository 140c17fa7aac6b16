"""What a pipeline file may make run: the one gate for callables named by dotted path.

A pipeline file (YAML, or a dict given to `Trainer.from_dict`) names reward functions, tools and
environments by import path. Such a path resolves only from an allow-list unless the reader trusts
the file:

- the library's own rewards, evals and tools (`posttrain.rewards`, `posttrain.evals.*`, `posttrain.tools`);
- modules in the pipeline file's own folder (imported from there).

A path outside it is refused without importing its module (importing runs code), and a path inside
it is judged again by where the object it names was defined, so a re-export, a `functools.partial`
or an instance of a class with `__call__` from elsewhere is refused too. Nothing named in a file is
called before this check passes. The reader opts in with `trust_file=True` (`posttrain train
--trust-file`); no key of the file can. A path written in Python code (`.grpo(rewards=["pkg.fn"])`)
is the caller's own and is not limited to the allow-list.

>>> from posttrain.trust import NamedInFile, resolve_named
>>> resolve_named(NamedInFile("posttrain.rewards.math_accuracy", folder=None), "rewards[0]").__name__
'math_accuracy'
"""

from __future__ import annotations

import functools
import importlib
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posttrain.errors import ConfigError, Problem

if TYPE_CHECKING:
    from typing_extensions import Self

LIBRARY = ("posttrain.rewards", "posttrain.evals", "posttrain.tools")     # these modules and their submodules
EXAMPLE = "'posttrain.rewards.math_accuracy'"


class NamedInFile(str):
    """A dotted path read from a pipeline file: the text, the file's folder, and whether its reader
    trusts the file. Setting values from a file carry this mark until they are resolved."""

    folder: Path | None
    trusted: bool

    def __new__(cls, text: str, folder: str | Path | None, trusted: bool = False) -> Self:
        named = super().__new__(cls, text)
        named.folder = Path(folder).resolve() if folder is not None else None
        named.trusted = bool(trusted)
        return named

    def __reduce__(self) -> tuple:
        return NamedInFile, (str(self), self.folder, self.trusted)


def mark_named(value: object, folder: str | Path | None, trusted: bool) -> Any:
    """A setting value read from a file with its text (and the text in its lists) marked as named
    there; other values unchanged."""
    if isinstance(value, str):
        return NamedInFile(value, folder, trusted)
    if isinstance(value, list):
        return [mark_named(item, folder, trusted) for item in value]
    return value


def resolve_named(spec: str, where: str, factory: bool = False) -> Callable:
    """The callable `spec` ('package.module.name') names. A path named in a file the reader does not
    trust must pass the allow-list before its module is imported and again once the object is found.
    `factory`: a class is accepted too (an environment, built by calling it)."""
    module_name, _, attr = spec.rpartition(".")
    if not module_name or not all(part.isidentifier() for part in spec.split(".")):
        raise ConfigError(Problem(where, f"{spec!r} is not a dotted path",
                                  f"give a dotted path to a function, e.g. {EXAMPLE}"))
    file = spec if isinstance(spec, NamedInFile) else None
    guarded = file is not None and not file.trusted
    folder = file.folder if file is not None else None
    local = folder is not None and _beside(module_name, folder)
    if guarded and not (local or _in_library(module_name)):
        raise ConfigError(_refused(spec, where, f"its module {module_name!r} is not among them, so it was "
                                   "not imported", folder))
    try:
        target = getattr(_import(module_name, folder if local else None), attr)
    except Exception as err:  # noqa: BLE001 - importing runs the module's code: any failure is a problem
        raise ConfigError(Problem(where, f"cannot import {spec!r} ({type(err).__name__}: {err})",
                                  f"give a dotted path to a function, e.g. {EXAMPLE}; its module must be "
                                  f"importable where you run (installed, or its folder on PYTHONPATH) or sit "
                                  "beside the pipeline file")) from None
    if guarded:
        outside = [name for name in defining_modules(target) if not _allowed(name, folder)]
        if outside:
            raise ConfigError(_refused(spec, where, f"it is defined in {outside[0]!r}, which is not among "
                                       "them, so it was not called", folder))
    if not (_is_reward_like(target) or (factory and isinstance(target, type))):
        raise ConfigError(Problem(where, f"{spec!r} is not a Python function ({type(target).__name__})",
                                  "name a reward function defined with def in an importable module"))
    return target


def defining_modules(target: Any) -> list[str | None]:
    """Every module whose code runs when `target` is called, seen through re-exports, partials,
    bound methods and instances of classes with `__call__` (None where no module is known)."""
    if isinstance(target, functools.partial):
        inner = [target.func, *target.args, *target.keywords.values()]
        return [name for item in inner if callable(item) for name in defining_modules(item)]
    if isinstance(target, types.MethodType):
        return defining_modules(target.__func__)
    if isinstance(target, (types.FunctionType, types.BuiltinFunctionType, type)):
        return [getattr(target, "__module__", None)]
    if isinstance(target, types.ModuleType):
        return [target.__name__]
    call = _call_of(type(target))            # in Python code: where it was defined; in C: the class's module
    return [type(target).__module__, *(defining_modules(call) if isinstance(call, types.FunctionType) else [])]


def _is_reward_like(target: Any) -> bool:
    """A function defined with def, a partial of one, or an instance whose class defines __call__ in
    Python; not a builtin, a class or a module."""
    if isinstance(target, functools.partial):
        return _is_reward_like(target.func)
    if isinstance(target, (types.FunctionType, types.MethodType)):
        return True
    if isinstance(target, (type, types.ModuleType, types.BuiltinFunctionType)):
        return False
    return isinstance(_call_of(type(target)), types.FunctionType)


def _call_of(cls: type) -> Any:
    """The `__call__` an instance of `cls` runs (looked up on the class and its bases, not the instance)."""
    return next((vars(klass)["__call__"] for klass in cls.__mro__ if "__call__" in vars(klass)), None)


def _in_library(module_name: str) -> bool:
    return module_name == "posttrain" or module_name.startswith("posttrain.")


def _allowed(module_name: str | None, folder: Path | None) -> bool:
    if not module_name:
        return False
    if any(module_name == name or module_name.startswith(name + ".") for name in LIBRARY):
        return True
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    return (folder is not None and _beside(module_name, folder) and file is not None
            and Path(file).resolve().is_relative_to(folder))


def _beside(module_name: str, folder: Path) -> bool:
    """Whether the top package of `module_name` sits directly in `folder` (looked up there alone, so
    nothing is imported, and a virtual environment below the folder does not count) and any module of
    that name already loaded is that one."""
    top = module_name.partition(".")[0]
    found = importlib.machinery.PathFinder.find_spec(top, [str(folder)])
    if found is None:
        return False
    loaded = sys.modules.get(top)
    return loaded is None or (loaded.__spec__ is not None and _location(loaded.__spec__) == _location(found))


def _location(spec: importlib.machinery.ModuleSpec) -> list[str]:
    return [spec.origin] if spec.origin else list(spec.submodule_search_locations or [])


def _import(module_name: str, folder: Path | None) -> types.ModuleType:
    """Import a module; one in `folder` is loaded from there (its top package from the folder itself,
    not from whatever the import system would find first), with the folder on sys.path meanwhile."""
    if folder is None:
        return importlib.import_module(module_name)
    top = module_name.partition(".")[0]
    sys.path.insert(0, str(folder))
    try:
        if top not in sys.modules:
            found = importlib.machinery.PathFinder.find_spec(top, [str(folder)])
            assert found is not None and found.loader is not None, "checked by _beside"
            module = importlib.util.module_from_spec(found)
            sys.modules[top] = module
            try:
                found.loader.exec_module(module)
            except BaseException:
                del sys.modules[top]
                raise
        return importlib.import_module(module_name)
    finally:
        sys.path.remove(str(folder))


def _refused(spec: str, where: str, reason: str, folder: Path | None) -> Problem:
    beside = f"modules in its own folder ({folder})" if folder else "modules beside it"
    return Problem(where, f"{spec!r} is refused: a pipeline file may name callables only from "
                   f"posttrain.rewards, posttrain.evals, posttrain.tools and {beside}; {reason}",
                   f"use a reward such as {EXAMPLE}, or put the function in a module beside the file; if "
                   "you trust this file to run any code it names, load it with trust_file=True "
                   "(posttrain train --trust-file); the module must then still be importable where you run "
                   "(installed, or its folder on PYTHONPATH) or sit beside the file")
