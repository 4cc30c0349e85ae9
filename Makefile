# Two commands for a newcomer:  make lab   (set up and open the course)   make test   (run every test)
# Uses the active virtual environment or conda environment if there is one, otherwise ./.venv.
PYTHON ?= python3
VENV   ?= .venv
ifneq ($(VIRTUAL_ENV)$(CONDA_PREFIX),)
  PY := python
else
  PY := $(VENV)/bin/python
endif
STAMP := .cache/installed-$(shell $(PYTHON) -c "import hashlib;print(hashlib.sha1(open('pyproject.toml','rb').read()).hexdigest()[:12])")

.PHONY: install lab test student-edition clean

$(STAMP): pyproject.toml
	@if [ "$(PY)" = "$(VENV)/bin/python" ] && [ ! -x "$(VENV)/bin/python" ]; then \
		echo "creating $(VENV)"; $(PYTHON) -m venv $(VENV); fi
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	@mkdir -p .cache && rm -f .cache/installed-* && touch $@

install: $(STAMP)

lab: install
	$(PY) -m jupyter lab notebooks/

test: install
	$(PY) -m pytest

student-edition: install
	$(PY) -m gptoss_edu.exercises.student_edition notebooks/ student-edition/

clean:
	rm -rf .cache test-artifacts student-edition .pytest_cache
