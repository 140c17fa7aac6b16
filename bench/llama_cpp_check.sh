#!/usr/bin/env bash
# Check the GGUF export in a real runtime: llama.cpp, through llama-cpp-python, installed into its own
# virtual environment (LLAMA_VENV, default .llama-venv) so the project's .venv is untouched. Building it
# from the package registry takes ~20 min on 2 cores. Then, with the project's packages beside it:
#   - the tests that need llama.cpp (tests/posttrain/pipeline/test_gguf_llama_cpp.py, the slow one too);
#   - python -m bench.llama_cpp --families --default: the comparison table (docs/results.md records it).
# Usage: bash bench/llama_cpp_check.sh [--no-tests] [--out bench/results/llama_cpp.json]
set -euo pipefail
cd "$(dirname "$0")/.."
LLAMA_VENV="${LLAMA_VENV:-.llama-venv}"
PROJECT_PY="${PROJECT_PY:-.venv/bin/python}"
if [ ! -x "$LLAMA_VENV/bin/python" ] || ! "$LLAMA_VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
  echo "installing llama-cpp-python into $LLAMA_VENV (a build from source: minutes)"
  python3 -m venv "$LLAMA_VENV"
  CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" "$LLAMA_VENV/bin/pip" install -q llama-cpp-python
fi
# the project's packages (torch, transformers, gguf, pytest) from its own venv, ahead of the llama venv's numpy
SITE="$("$PROJECT_PY" -c 'import site; print(site.getsitepackages()[0])')"
export PYTHONPATH="$PWD:$SITE" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
RUN_TESTS=1; OUT=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-tests) RUN_TESTS=0 ;;
    --out) OUT=(--out "$2"); shift ;;
  esac
  shift
done
if [ "$RUN_TESTS" = 1 ]; then
  "$LLAMA_VENV/bin/python" -m pytest -q -p no:cacheprovider tests/posttrain/pipeline/test_gguf_llama_cpp.py
fi
"$LLAMA_VENV/bin/python" -m bench.llama_cpp --families --default "${OUT[@]}"
