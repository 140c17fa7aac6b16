"""A first run shows what posttrain prints and nothing else: the demo's quick run on the tiny model (and a
plain `advise(...)`), in a fresh process as a user starts it, prints no third-party progress bar (tqdm's:
DPO's "Computing reference log probs", weight loading, dataset maps) and no third-party warning; `make
setup`'s editable install filters setuptools' note on it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TQDM_BAR = re.compile(r"\d+%\||\|\s*\d+/\d+ \[|it/s\]|s/it\]")
PY_WARNING = re.compile(r"\b[A-Z]\w*Warning: |^WARNING\b|\[WARNING", re.M)
# the runner's and the evals' lines, and a stage's own notes ("03-grpo: ...")
OUR_STDERR = re.compile(r"^(\[\d+/\d+\] \w+: |  eval |posttrain: |\d\d-\w+: )")


def _fresh_python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "PYTHONWARNINGS")}
    clean.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                  "COLUMNS": "100"}, **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=clean,
                          timeout=1200)


def test_the_quick_demo_prints_no_third_party_bar_or_warning(tiny_dir, tmp_path):
    run = _fresh_python(f"from posttrain_demo.demo import run_demo; run_demo({str(tmp_path)!r}, quick=True, "
                        f"model={str(tiny_dir)!r})")
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "report.md").exists()
    for stream in (run.stdout, run.stderr):
        assert not TQDM_BAR.search(stream), stream[-3000:]
        assert not PY_WARNING.search(stream), stream[-3000:]
    foreign = [line for line in run.stderr.splitlines() if line.strip() and not OUR_STDERR.match(line)]
    assert not foreign, foreign
    assert "[2/3] dpo" in run.stderr and "eval math_accuracy" in run.stderr     # the run did go through DPO


def test_make_setup_filters_setuptools_editable_install_note():
    """The filter the Makefile gives pip's build backend hides the note setuptools emits (and only that)."""
    line = next(text for text in (ROOT / "Makefile").read_text().splitlines() if "pip install -q -e" in text)
    setting = re.search(r'PYTHONWARNINGS="([^"]+)"', line)
    assert setting, line
    emit = ("from setuptools.warnings import InformationOnly as W; import warnings; "
            "W.emit('Editable installation.', 'Please be careful with folders in your working directory'); "
            "warnings.warn('Something else.', UserWarning)")
    shown, filtered = _fresh_python(emit), _fresh_python(emit, PYTHONWARNINGS=setting.group(1))
    assert "Editable installation" in shown.stderr and "Something else" in shown.stderr
    assert "Editable installation" not in filtered.stderr and "Something else" in filtered.stderr


def test_a_plain_advise_prints_nothing():
    run = _fresh_python("from advisor import advise; advise({'description': 'A tutoring assistant that solves "
                        "arithmetic word problems', 'target_skills': ['math'], 'labeled_examples': 220, "
                        "'rl_prompts': 120, 'verifiable_reward': True})")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout == "" and run.stderr == ""


def test_a_run_without_progress_prints_no_third_party_bar_either(tiny_dir, tmp_path):
    """`run(progress=False)` shows nothing of ours; the libraries' bars (weight loading) stay off too."""
    rows = [{"prompt": f"question {i}", "completion": f"answer {i}"} for i in range(4)]
    run = _fresh_python(f"from posttrain import Trainer; Trainer({str(tiny_dir)!r}, output_dir={str(tmp_path)!r})"
                        f".sft({rows!r}, max_steps=1, batch_size=2).run(progress=False)")
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "01-sft" / "model").is_dir()
    for stream in (run.stdout, run.stderr):
        assert not TQDM_BAR.search(stream), stream[-3000:]
