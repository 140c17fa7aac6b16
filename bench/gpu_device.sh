#!/usr/bin/env bash
# The GPU bench on a lent machine whose image has torch, transformers, peft and accelerate but not
# TRL, datasets or pydantic. Wheels for those travel in .whl/ (fetch them first, on the machine with
# the registry):
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#     trl datasets dill multiprocess "transformers==$(python -c 'import transformers;print(transformers.__version__)')" \
#     pydantic pydantic-core annotated-types typing-inspection typing_extensions regex math-verify \
#     latex2sympy2_extended antlr4-python3-runtime peft accelerate torch-optimi pyyaml rich gguf torchao \
#     xxhash mdurl markdown-it-py pygments bitsandbytes
# and the default model's config and tokenizer (no weights; the shapes are built from them):
#   python -m bench.gpu .bench-shape          # keep .whl/ and .bench-shape/ out of git (.git/info/exclude)
# Then, on the GPU machine (results land in $OUT/gpu-run.json, rewritten after each case):
#   bash bench/gpu_device.sh            # every case of the speed work in under 8 minutes (bench/gpu_run.py)
#   BENCH_FULL=1 bash bench/gpu_device.sh   # the older, longer suite (bench/gpu.py), results in $OUT/gpu.json
set -euo pipefail
OUT="${OUT:-bench/results}"
pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export BENCH_SHAPE_SOURCE="$PWD/.bench-shape"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python -c "import torch, transformers, trl, peft, optimi; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'peft', peft.__version__)"
if [ "${BENCH_FULL:-0}" = 1 ]; then
  # BENCH_GPU_CASES=sft_full@1b,... runs only those cases; BENCH_CASE_TIMEOUT_S bounds each run.
  python -m bench run --gpu --out "$OUT/gpu.json"
else
  # BENCH_BUDGET_S: no case starts that could end past it (default 480 s: well under a 9-minute slot).
  python -m bench gpu-run --budget-s "${BENCH_BUDGET_S:-480}" --out "$OUT/gpu-run.json"
fi
