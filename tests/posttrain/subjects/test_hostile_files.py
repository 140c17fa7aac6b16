"""Hostile files: nothing the library reads can run code. No pickle, `torch.load` only with
`weights_only=True`, `trust_remote_code` off unless asked, no eval/exec, YAML read safely.

The source of every package is parsed (not grepped), so `model.eval()` is not `eval(...)` and a word
in a docstring is not an import. Each rule is first shown to catch a planted violation.
"""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("posttrain", "advisor", "rag_baseline")
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
UNSAFE_CALLS = {"eval", "exec", "compile", "__import__"}
UNSAFE_YAML = {"load", "load_all", "unsafe_load", "unsafe_load_all", "full_load", "full_load_all"}


def _keyword(call: ast.Call, name: str) -> object:
    """The constant value of keyword `name` in `call`; `...` when it is missing or not a constant."""
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value.value if isinstance(keyword.value, ast.Constant) else ...
    return ...


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else "?"


def _safe_loaders(tree: ast.AST) -> set[str]:
    """yaml.SafeLoader and the classes `tree` derives from it (they construct no Python objects)."""
    safe = {"yaml.SafeLoader"}
    classes = [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    while True:
        more = {c.name for c in classes if c.name not in safe and any(_dotted(b) in safe for b in c.bases)}
        if not more:
            return safe
        safe |= more


def findings(source: str, label: str = "<source>") -> list[str]:
    """Every unsafe construct in `source`, as 'label:line: what'."""
    found, tree = [], ast.parse(source)
    safe_loaders = _safe_loaders(tree)
    for node in ast.walk(tree):
        at = f"{label}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{at}: imports {n}" for n in names if n.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if isinstance(node.func, ast.Name) and name in UNSAFE_CALLS:
                found.append(f"{at}: calls {name}()")
            if name == "torch.load" and _keyword(node, "weights_only") is not True:
                found.append(f"{at}: torch.load without weights_only=True")
            if name in ("np.load", "numpy.load") and _keyword(node, "allow_pickle") not in (..., False):
                found.append(f"{at}: np.load with allow_pickle")
            if name.startswith("yaml.") and name.split(".")[-1] in UNSAFE_YAML and _dotted(
                    next((k.value for k in node.keywords if k.arg == "Loader"), ast.Name("?"))) not in safe_loaders:
                found.append(f"{at}: {name} without SafeLoader")
            if _keyword(node, "trust_remote_code") is True:
                found.append(f"{at}: trust_remote_code=True")
            if _keyword(node, "allow_dangerous_deserialization") is True:
                found.append(f"{at}: allow_dangerous_deserialization=True")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found += _remote_code_defaults(node, at)
    return found


def _remote_code_defaults(node: ast.FunctionDef | ast.AsyncFunctionDef, at: str) -> list[str]:
    args = node.args
    positional = args.posonlyargs + args.args
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return [f"{at}: {node.name}(trust_remote_code=...) defaults to {ast.unparse(d)}" for a, d in pairs
            if a.arg == "trust_remote_code" and not (isinstance(d, ast.Constant) and d.value is False)]


def _package_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


PLANTED = [
    ("import pickle", "imports pickle"),
    ("from joblib import load", "imports joblib"),
    ("import dill as d", "imports dill"),
    ("torch.load(path)", "torch.load without weights_only=True"),
    ("torch.load(path, weights_only=False)", "torch.load without weights_only=True"),
    ("np.load(path, allow_pickle=True)", "np.load with allow_pickle"),
    ("yaml.load(text)", "yaml.load without SafeLoader"),
    ("yaml.load(text, Loader=yaml.Loader)", "yaml.load without SafeLoader"),
    ("class L(yaml.Loader): pass\nyaml.load(text, Loader=L)", "yaml.load without SafeLoader"),
    ("yaml.unsafe_load(text)", "yaml.unsafe_load without SafeLoader"),
    ("eval(completion)", "calls eval()"),
    ("exec(code)", "calls exec()"),
    ("AutoModel.from_pretrained(name, trust_remote_code=True)", "trust_remote_code=True"),
    ("def load(name, trust_remote_code=True): pass", "defaults to True"),
    ("def load(name, *, trust_remote_code=None): pass", "defaults to None"),
    ("FAISS.load_local(path, emb, allow_dangerous_deserialization=True)", "allow_dangerous_deserialization"),
]


@pytest.mark.parametrize("source, finding", PLANTED)
def test_the_scan_catches_each_planted_violation(source, finding):
    assert any(finding in f for f in findings(source)), findings(source)


@pytest.mark.parametrize("source", [
    "model.eval()", "torch.load(path, weights_only=True)", "yaml.safe_load(text)",
    "yaml.load(text, Loader=yaml.SafeLoader)", "def load(name, *, trust_remote_code=False): pass",
    "class Safe12(yaml.SafeLoader): pass\nyaml.load(text, Loader=Safe12)",
    "np.load(path)", '"""Never pickle."""', "from posttrain.evals import QAAccuracy",
])
def test_the_scan_passes_safe_code(source):
    assert findings(source) == []


def test_no_package_unpickles_runs_strings_or_trusts_remote_code_by_default():
    files = _package_files()
    assert len(files) > 50 and any(p.name == "persist.py" for p in files)        # the scan saw the packages
    problems = [f for path in files for f in findings(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert problems == []


def test_the_trainer_checkpoint_files_we_leave_behind_are_never_read_by_us():
    """`training_args.bin` (a pickle TRL writes into checkpoints) is only ever deleted by the library."""
    mentions = [(path, line) for path in _package_files()
                for line in path.read_text(encoding="utf-8").splitlines() if "training_args.bin" in line]
    assert mentions, "the stage output no longer removes training_args.bin"
    assert all("unlink" in line for _, line in mentions), mentions


def test_resuming_from_a_checkpoint_loads_tensors_only():
    """transformers' Trainer reads a checkpoint's optimizer, scheduler and RNG files with torch.load;
    every such call in the version installed passes weights_only=True."""
    import transformers.trainer

    source = Path(transformers.trainer.__file__).read_text(encoding="utf-8")
    loads = [f for f in findings(source, "transformers/trainer.py") if "torch.load" in f]
    assert "torch.load(" in source and loads == []


def test_torch_load_refuses_an_object_that_would_run_code(tmp_path):
    """Even a torch.load without weights_only (in a dependency) refuses code: the default is
    weights_only=True in the torch installed."""
    import torch

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    path = tmp_path / "optimizer.pt"
    with path.open("wb") as handle:
        pickle.dump(Payload(), handle, protocol=2)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    assert not marker.exists()


def test_model_loading_functions_default_to_untrusted_code():
    import inspect

    from posttrain.models import load_model, load_tokenizer

    for fn in (load_model, load_tokenizer):
        assert inspect.signature(fn).parameters["trust_remote_code"].default is False
