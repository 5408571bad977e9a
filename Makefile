# Developer and CI entry points. `make test` is the one test command: it needs no
# running broker, because the test fixtures start one (see tests/conftest.py).

VENV ?= .venv
PY := $(VENV)/bin/python
KAFKA_PORT ?= 9092
KAFKA_DATA_DIR ?= var/kafka

.PHONY: bootstrap test test-unit lint typecheck kafka-start kafka-stop kafka-status topics demo clean

bootstrap:
	bash scripts/bootstrap.sh

# pytest exits with 5 when it collected no tests; that counts as a failure here.
# The cache plugin is off so that every run starts from the same state.
test: bootstrap
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS); \
	status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$status

# Tests that need neither a broker nor a JVM.
test-unit:
	$(PY) -m pytest -p no:cacheprovider -m "not kafka and not slow" $(PYTEST_ARGS)

lint:
	$(VENV)/bin/ruff check .

typecheck:
	$(VENV)/bin/mypy

kafka-start:
	$(VENV)/bin/naumu-jira kafka start --port $(KAFKA_PORT) --data-dir $(KAFKA_DATA_DIR)

kafka-stop:
	$(VENV)/bin/naumu-jira kafka stop --data-dir $(KAFKA_DATA_DIR)

kafka-status:
	$(VENV)/bin/naumu-jira kafka status --data-dir $(KAFKA_DATA_DIR)

topics:
	$(VENV)/bin/naumu-jira topics ensure

# The main job on embedded defaults: a local broker and a generated sandbox Jira site.
# DEMO_ARGS passes options, e.g. DEMO_ARGS="--json --exit".
# Ctrl-C is how the demo is meant to end (exit code 130), so it is not reported as an error.
demo: bootstrap
	$(VENV)/bin/naumu-jira demo $(DEMO_ARGS) || test $$? -eq 130

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
