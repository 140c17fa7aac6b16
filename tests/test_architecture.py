"""The shape of the code: imports point one way, the stage registry drives every list, and each
hook into TRL's internals takes effect with the installed TRL."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("posttrain", "advisor", "rag_baseline")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module this file imports, at the top or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    return {name: {m for m in _imports(path) if m in files and m != name} for name, path in files.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return out


def test_no_module_imports_one_that_imports_it_back():
    graph = _graph()
    assert len(graph) > 60
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_loop():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_core_never_reaches_up_except_the_cli():
    graph = _graph()
    offenders = {name: sorted(m for m in deps if m.split(".")[0] in ("advisor", "rag_baseline"))
                 for name, deps in graph.items() if name.startswith("posttrain") and name != "posttrain.cli"}
    assert {k: v for k, v in offenders.items() if v} == {}
    rag_up = {name: sorted(m for m in deps if m.startswith("advisor"))
              for name, deps in graph.items() if name.startswith("rag_baseline")}
    assert {k: v for k, v in rag_up.items() if v} == {}


def test_no_library_imports_the_demo_package_except_the_cli():
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    reaching = sorted(name for name, path in files.items()
                      if any(m.split(".")[0] == "posttrain_demo" for m in _imports(path)))
    assert reaching == ["posttrain.cli"]          # `posttrain demo` loads it lazily


def test_trl_internals_are_touched_only_in_trl_hooks():
    private = ("_use_triton", "_generate_single_turn", "_precompute_ref_logps", "._generate", '"_generate"')
    touching = sorted(str(p.relative_to(ROOT)) for pkg in (*PACKAGES, "bench") for p in (ROOT / pkg).rglob("*.py")
                      if any(name in p.read_text(encoding="utf-8") for name in private))
    assert touching == ["posttrain/stages/trl_hooks.py"]


def test_only_the_device_module_and_doctor_probe_the_hardware():
    """Every device decision is made once, in `posttrain.device` (its `Choices`); the rest read it."""
    probes = ("cuda.is_available", "is_bf16_supported", "get_device_properties", "sched_getaffinity", "cpu_count(",
              "/proc/cpuinfo")
    probing = sorted(str(p.relative_to(ROOT)) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
                     if any(probe in p.read_text(encoding="utf-8") for probe in probes))
    assert probing == ["posttrain/device.py", "posttrain/doctor.py"]


def test_a_stage_reads_every_device_decision_from_its_choices():
    from posttrain.device import DeviceProfile
    from posttrain.stages import get_stage, make_settings

    cpu = DeviceProfile("cpu", "CPU, 2 cores", None, True, threads=3)
    gpu = DeviceProfile("cuda", "H100", 80.0, True, threads=3)
    grpo = make_settings("grpo", "stage", rewards=["posttrain.rewards.math_accuracy"], batch_size=4,
                         num_generations=8)
    on_cpu = get_stage("grpo").choose(grpo, cpu, 135_000_000, {}, lora=False)
    on_gpu = get_stage("grpo").choose(grpo, gpu, 135_000_000, {}, lora=False)
    assert (on_cpu.device, on_cpu.sample_bf16, on_cpu.micro_batch, on_cpu.threads) == ("cpu", True, 4, 3)
    assert (on_gpu.device, on_gpu.sample_bf16, on_gpu.micro_batch) == ("cuda", False, 32)
    assert get_stage("grpo").choose(grpo.model_copy(update={"precision": "fp32"}), cpu, 1, {}, lora=False).sample_bf16 is False
    sft = get_stage("sft").choose(make_settings("sft", "stage"), gpu, 135_000_000, {}, lora=False)
    assert sft.micro_batch is None and sft.optimizer == "adamw_kahan" and sft.trl_optim == "adamw_torch_fused"


def test_the_type_stub_names_every_lazily_loaded_export():
    """posttrain/__init__.pyi gives type checkers what posttrain/__init__.py loads on first use."""
    import posttrain

    stub = ast.parse((ROOT / "posttrain" / "__init__.pyi").read_text(encoding="utf-8"))
    typed = {alias.asname or alias.name for node in stub.body if isinstance(node, ast.ImportFrom)
             for alias in node.names}
    assert typed == set(posttrain._EXPORTS) | set(posttrain._SUBMODULES)
    stubbed_from = {alias.name: node.module for node in stub.body if isinstance(node, ast.ImportFrom)
                    for alias in node.names if node.module != "posttrain"}
    assert stubbed_from == posttrain._EXPORTS


# -- the registry -----------------------------------------------------------------------------------------------

@pytest.fixture
def fake_stage():
    """A stage kind registered for one test: SFT's machinery under a new name and settings class."""
    from typing import Literal

    from posttrain import stages
    from posttrain.config import StageSettings
    from posttrain.stages import sft
    from posttrain.stages.spec import StageSpec

    class EchoSettings(StageSettings):
        kind: Literal["echo"] = "echo"
        loudness: float = 1.0

    spec = StageSpec(kind="echo", summary="a test stage", settings=EchoSettings, formats=sft.SPEC.formats,
                     trl_config="SFTConfig", default_lr=(1e-5, 1e-4), data_hint="{'prompt', 'completion'}",
                     trl_args=sft.trl_args, run=sft.run)
    stages.register(spec)
    yield spec
    del stages.STAGES["echo"]


def test_a_registered_stage_appears_in_the_trainer_yaml_and_plan(fake_stage, tmp_path):
    from posttrain import Trainer

    rows = [{"prompt": "Hi", "completion": "Hello!"}]
    trainer = Trainer("default", output_dir=tmp_path).echo(rows, loudness=2.0)
    assert "echo" in dir(trainer)
    assert [s.kind for s in trainer.stages] == ["echo"]
    assert trainer.stages[0].settings.loudness == 2.0
    trainer.to_yaml(tmp_path / "pipeline.yaml")
    again = Trainer.from_yaml(tmp_path / "pipeline.yaml")
    assert again == trainer and again.stages[0].settings.loudness == 2.0
    plan = trainer.plan()
    assert [(s.kind, s.name) for s in plan.stages] == [("echo", "01-echo")]
    assert "echo" in str(plan)


def test_an_unknown_stage_kind_names_the_registered_ones():
    from posttrain import ConfigError, Trainer

    with pytest.raises(ConfigError, match="sft, dpo, grpo, kto"):
        Trainer("default").add_stage("ppo", [])
    with pytest.raises(AttributeError):
        Trainer("default").ppo([])


def test_every_registered_stage_is_documented_and_reachable():
    from posttrain.stages import STAGES, get_stage, stages_markdown

    api = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    documented = api.split("<!-- stages: generated by `python -m posttrain.stages` -->\n")[1].split("\n<!-- /stages -->")[0]
    assert documented == stages_markdown(), "docs/api.md's stage table is stale: python -m posttrain.stages"
    for kind, spec in STAGES.items():
        assert f"| `{kind}`" in documented
        assert spec.config_class().__name__ == spec.trl_config
        assert spec.settings.model_fields["kind"].default == kind
    assert get_stage("cpt").kind == "pretrain"


# -- TRL hooks: each must take effect with the installed TRL ------------------------------------------------------

def test_hook_targets_exist_in_the_installed_trl():
    from posttrain.stages import trl_hooks

    assert all(trl_hooks.status().values()), trl_hooks.status()
    with trl_hooks.timed_methods(lambda *_: None) as timed:
        assert all(timed.values()), timed


def test_labelled_positions_hook_switches_the_fused_head_on_cpu_and_restores_it():
    import torch
    import trl.trainer.utils as trl_utils

    from posttrain.stages.trl_hooks import labelled_positions_only

    original, tile = trl_utils._use_triton, trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE
    assert original(torch.device("cpu")) is False
    with labelled_positions_only() as active:
        assert active is True
        assert trl_utils._use_triton(torch.device("cpu")) is True
        assert trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE == tile              # no tile asked: TRL's
    with labelled_positions_only(8192):
        assert trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE == 8192
    assert trl_utils._use_triton is original and trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE == tile


def test_labelled_positions_hook_falls_back_when_the_name_is_gone(monkeypatch, caplog):
    import trl.trainer.utils as trl_utils

    from posttrain.stages import trl_hooks

    monkeypatch.delattr(trl_utils, "_use_triton")
    monkeypatch.setattr(trl_hooks, "_noted", set())
    with trl_hooks.labelled_positions_only() as active:
        assert active is False
    assert "falling back to TRL's own behaviour" in caplog.text
    assert not hasattr(trl_utils, "_use_triton")


def test_timed_methods_time_each_call_restore_the_class_and_skip_missing_names(monkeypatch):
    import trl

    from posttrain.stages import trl_hooks

    class Probe:
        def work(self, x):
            return 2 * x

    original = Probe.__dict__["work"]
    monkeypatch.setattr(trl, "ProbeTrainer", Probe, raising=False)
    monkeypatch.setattr(trl_hooks, "TIMED_TARGETS", {"probe": ("ProbeTrainer", "work"),
                                                     "gone": ("ProbeTrainer", "renamed_in_a_new_release")})
    seen = []
    with trl_hooks.timed_methods(lambda label, seconds, result: seen.append((label, result, seconds >= 0))) as active:
        assert active == {"probe": True, "gone": False}
        assert Probe().work(21) == 42
    assert seen == [("probe", 42, True)]
    assert Probe.__dict__["work"] is original and not hasattr(Probe, "renamed_in_a_new_release")


def test_generation_hook_wraps_the_instance_and_composes():
    from types import SimpleNamespace

    from posttrain.stages.trl_hooks import wrap_generation

    calls = []
    trainer = SimpleNamespace(_generate_single_turn=lambda: calls.append("trl") or "ids")

    def tag(name):
        def wrapper(generate):
            return lambda: calls.append(name) or generate()
        return wrapper

    assert wrap_generation(trainer, tag("merged"), "merge") and wrap_generation(trainer, tag("bf16"), "bf16")
    assert trainer._generate_single_turn() == "ids"
    assert calls == ["bf16", "merged", "trl"]
    assert wrap_generation(SimpleNamespace(), tag("x"), "nothing to wrap") is False
