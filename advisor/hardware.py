"""Where training will run, as the compute estimate needs it: stated in the spec, or detected here.

Stated: `"cpu"` (or `"cpu 64GB"` for its RAM), a GPU name (`"RTX 4090"`, `"A100 40GB"`, `"H100"`), or a
GPU memory size (`"24GB"`).
Detected without importing torch (so `advise()` stays light): torch's view when torch is already
loaded, else `nvidia-smi` when it is installed, else this machine's CPU and RAM.

>>> from advisor.hardware import parse_hardware
>>> parse_hardware("A100 40GB").memory_gib, parse_hardware("rtx4090").bf16
(40.0, True)
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel

# Common training GPUs: memory (GiB, as the card reports it) and bf16 in hardware.
GPUS = {
    "h200": (141.0, True), "h100": (80.0, True), "h800": (80.0, True), "gh200": (96.0, True),
    "b200": (180.0, True), "a100": (80.0, True), "a800": (80.0, True), "l40s": (48.0, True), "l40": (48.0, True),
    "a6000": (48.0, True), "a40": (48.0, True), "a10g": (24.0, True), "a10": (24.0, True), "l4": (24.0, True),
    "rtx 4090": (24.0, True), "rtx 3090": (24.0, True), "rtx 4080": (16.0, True), "rtx 5090": (32.0, True),
    "t4": (16.0, False), "v100": (32.0, False), "mi300x": (192.0, True), "mi250": (128.0, True),
}
# Peak dense bf16 (fp16 where there is no bf16) tensor throughput, TFLOP/s, from the vendors' sheets.
PEAK_TFLOPS = {
    "h200": 989, "h100": 989, "h800": 989, "gh200": 989, "b200": 2250, "a100": 312, "a800": 312, "l40s": 362,
    "l40": 181, "a6000": 155, "a40": 150, "a10g": 70, "a10": 125, "l4": 121, "rtx 4090": 165, "rtx 3090": 71,
    "rtx 4080": 97, "rtx 5090": 209, "t4": 65, "v100": 125, "mi300x": 1307, "mi250": 362,
}
UNKNOWN_GPU_TFLOPS = 100          # a GPU known only by its memory
GPU_UTILISATION = 0.35            # the share of the peak a training run sustains (model FLOPs utilisation)
CPU_FLOPS_PER_CORE = 5e10         # usable for training in PyTorch, fp32/bf16 with AVX2/AVX-512: ~1e11-1e12 a machine
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*(?:gib|gb|g)\b", re.IGNORECASE)


class Hardware(BaseModel):
    """The device a plan is estimated for. `memory_gib`: the GPU's memory, or the RAM of a CPU."""

    kind: str                      # "cpu" or "cuda"
    name: str
    memory_gib: float | None
    bf16: bool
    source: str                    # "stated", "detected (torch)", "detected (nvidia-smi)", "detected (cpu)"
    cores: int | None = None       # a CPU's cores (its training rate scales with them)

    def training_rate(self) -> tuple[float, str]:
        """FLOP/s a training run sustains on this device, and how that figure was reached."""
        if self.kind == "cpu":
            cores = self.cores or 1
            return cores * CPU_FLOPS_PER_CORE, f"~{CPU_FLOPS_PER_CORE:.0e} FLOP/s a core x {cores} cores"
        key = known_gpu(self.name)
        peak = PEAK_TFLOPS.get(key, UNKNOWN_GPU_TFLOPS) if key else UNKNOWN_GPU_TFLOPS
        where = f"{key.upper()} peak" if key in PEAK_TFLOPS else "a GPU's peak, assumed"
        return peak * 1e12 * GPU_UTILISATION, f"{GPU_UTILISATION:.0%} of {where} {peak} TFLOP/s"

    def describe(self) -> str:
        memory = f"{self.memory_gib:.0f} GiB {'RAM' if self.kind == 'cpu' else ''}".rstrip() \
            if self.memory_gib else "memory unknown"
        return f"{self.name} ({memory}, {'bf16' if self.bf16 else 'no bf16'}; {self.source})"


def parse_hardware(text: str) -> Hardware:
    """A `Hardware` from what a user writes; a ValueError naming the value and the forms accepted."""
    key = " ".join(text.strip().lower().replace("-", " ").replace("_", " ").split())
    memory = _MEMORY.search(key)
    if memory is not None and float(memory.group(1)) <= 0:
        raise ValueError(f"hardware {text!r} has no memory; give the device's memory, e.g. '24GB'")
    if key.split(" ")[0] in ("cpu", "none") or key == "no gpu":
        found = cpu_hardware(source="stated")
        return found.model_copy(update={"memory_gib": float(memory.group(1))}) if memory else found
    squashed = key.replace(" ", "")
    name = next((gpu for gpu in sorted(GPUS, key=len, reverse=True) if gpu.replace(" ", "") in squashed), None)
    if name is None and memory is None:
        raise ValueError(f"cannot read {text!r} as hardware; write 'cpu', a GPU name ({', '.join(list(GPUS)[:6])}, "
                         "...) or its memory ('24GB')")
    size: float | None
    size, bf16 = GPUS[name] if name is not None else (None, True)
    if memory is not None:
        size = float(memory.group(1))
    return Hardware(kind="cuda", name=(name or "GPU").upper(), memory_gib=size, bf16=bf16, source="stated")


@lru_cache(maxsize=1)
def detect_hardware() -> Hardware:
    """This machine's first GPU, else its CPU; torch is asked only when it is already imported."""
    if "torch" in sys.modules:
        from posttrain.device import DeviceProfile

        found = DeviceProfile.detect()
        if found.kind == "cuda":
            return Hardware(kind="cuda", name=found.name, memory_gib=found.memory_gib, bf16=found.bf16,
                            source="detected (torch)")
        return cpu_hardware(source="detected (cpu)")
    return _nvidia_smi() or cpu_hardware(source="detected (cpu)")


def cpu_hardware(source: str) -> Hardware:
    from posttrain.device import cpu_has_native_bf16, usable_cores

    cores = usable_cores()
    return Hardware(kind="cpu", name=f"CPU, {cores} cores", memory_gib=_ram_gib(), bf16=cpu_has_native_bf16(),
                    source=source, cores=cores)


def known_gpu(name: str) -> str | None:
    """The key of `GPUS` a device name holds ("NVIDIA H100 80GB HBM3" -> "h100"), longest first."""
    squashed = name.lower().replace(" ", "")
    return next((gpu for gpu in sorted(GPUS, key=len, reverse=True) if gpu.replace(" ", "") in squashed), None)


def _nvidia_smi() -> Hardware | None:
    if not shutil.which("nvidia-smi"):
        return None
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
                              capture_output=True, text=True, timeout=10, check=True)
        name, mib = done.stdout.strip().splitlines()[0].rsplit(",", 1)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None
    known = next((gpu for gpu in GPUS if gpu.replace(" ", "") in name.lower().replace(" ", "")), None)
    return Hardware(kind="cuda", name=name.strip(), memory_gib=float(mib) / 1024,
                    bf16=GPUS[known][1] if known else True, source="detected (nvidia-smi)")


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None
