# Two commands do all the set-up: `make demo` and `make test`.
# Both create .venv, install what is missing (system packages too when root) and are safe to re-run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.geopain-installed
export TORCH_HOME := $(CURDIR)/.cache/torch
export YOLO_CONFIG_DIR := $(CURDIR)/.cache/ultralytics
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib
export NUMBA_CACHE_DIR := $(CURDIR)/.cache/numba
export YOLO_OFFLINE := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test install system-deps benchmark readme-tables lock clean

demo: $(STAMP)
	$(VENV)/bin/geopain demo -o demo-output

test: $(STAMP)
	$(PY) -m pytest tests

benchmark: $(STAMP)
	$(PY) benchmarks/run.py

# After 'make demo' and/or 'make benchmark': keep the demo metrics, regenerate the README's result and speed blocks.
readme-tables: $(STAMP)
	mkdir -p benchmarks/results
	[ ! -f demo-output/metrics.json ] || cp demo-output/metrics.json benchmarks/results/demo-metrics.json
	$(PY) -c "from geopain.demo import readme_blocks, update_readme; update_readme('README.md', readme_blocks('benchmarks/results'))"

install: $(STAMP)

system-deps:
	@if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing libusb-1.0-0 (needed by open3d)"; \
	    (apt-get install -y -q libusb-1.0-0 >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q libusb-1.0-0 >/dev/null)); \
	  else echo "warning: libusb-1.0 missing and not root; open3d features will be unavailable"; fi; \
	fi
	@# Debian's chromium (the dashboard's browser test) and postgresql (the store's PostgreSQL test)
	@missing=""; command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing (browser and database tests)"; \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null)); \
	  else echo "warning:$$missing missing and not root; the browser/PostgreSQL tests will be skipped"; fi; \
	fi

$(STAMP): pyproject.toml constraints.txt | system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[all,ray,dev]'
	touch $(STAMP)

lock: $(STAMP)
	{ echo '# Versions that resolve and import together on Python 3.11 / x86_64 (pip freeze of a working install).'; \
	  echo "# The Makefile installs with '-c constraints.txt'; refresh with 'make lock'."; \
	  $(PY) -m pip freeze --exclude-editable | grep -v '^geopain'; } > constraints.txt

clean:
	rm -rf $(VENV) .cache demo-output
