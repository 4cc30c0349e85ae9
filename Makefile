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

.PHONY: install lab solutions test student-edition reset check offline-kit clean

$(STAMP): pyproject.toml
	@if [ "$(PY)" = "$(VENV)/bin/python" ] && [ ! -x "$(VENV)/bin/python" ]; then \
		echo "creating $(VENV)"; $(PYTHON) -m venv $(VENV); fi
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev,train]"
	@mkdir -p .cache && rm -f .cache/installed-* && touch $@

install: $(STAMP)

# Learners work in student-edition/: the notebooks with the solutions taken out. A learner's copy is
# never overwritten (new course notebooks are added); `make solutions` opens the worked notebooks.
lab: student-edition
	$(PY) -m jupyter lab student-edition/

solutions: install
	$(PY) -m jupyter lab notebooks/

# make reset NOTEBOOK=03_attention : a fresh student copy of one notebook; the learner's copy is kept in student-edition/.backup/
reset: install
	@test -n "$(NOTEBOOK)" || { echo "usage: make reset NOTEBOOK=03_attention"; exit 2; }
	$(PY) -m gptoss_edu.exercises.student_edition --reset notebooks/$(basename $(NOTEBOOK)).ipynb student-edition/

test: install
	$(PY) -m pytest

# What this machine has for the course and exactly what is missing (run it first).
check: install
	$(PY) -m gptoss_edu.setup_check

# make offline-kit KIT=/media/usb/gptoss-kit [PLATFORMS="linux-x86_64 macos-arm64 windows-amd64"]
offline-kit: install
	@test -n "$(KIT)" || { echo "usage: make offline-kit KIT=/path/to/new/folder [PLATFORMS=...]"; exit 2; }
	$(PY) scripts/offline_kit.py $(KIT) $(if $(PLATFORMS),--platform $(PLATFORMS))

student-edition: install
	$(PY) -m gptoss_edu.exercises.student_edition notebooks/ student-edition/

# Build and test leftovers only: learners' work in student-edition/ is never deleted here.
clean:
	rm -rf .cache test-artifacts .pytest_cache
