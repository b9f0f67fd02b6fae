# Jangteo — the two set-up commands are `make run` and `make test` (README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench load install migrate worker messages clean client harvest-check

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	DEBUG=1 $(BIN)/python manage.py migrate --noinput

# The service on its embedded defaults: SQLite and files under var/, a filesystem Celery
# broker, a real worker (with beat) beside the development server, demo data on first run.
run: migrate
	DEBUG=1 $(BIN)/python manage.py seed_demo --if-empty
	@echo ""
	@echo "Jangteo is starting on http://$(HOST):$(PORT)/  (API docs: /api/docs/, admin: /admin/)"
	@echo "Log in with a demo account above (password: $${DEMO_PASSWORD:-jangteo-demo}). Ctrl-C stops both processes."
	@trap 'kill 0' INT TERM EXIT; \
	DEBUG=1 $(BIN)/celery -A config worker --beat --loglevel=INFO --concurrency=2 \
	    --schedule var/celerybeat-schedule & \
	DEBUG=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

worker: install
	DEBUG=1 $(BIN)/celery -A config worker --beat --loglevel=INFO --schedule var/celerybeat-schedule

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Benchmarks print ratios against a baseline measured in the same run (README, Benchmarks).
bench: install
	$(BIN)/python bench/ingestion.py --rows $${BENCH_INGEST_ROWS:-5000000}
	$(BIN)/python bench/extracts.py --rows $${BENCH_EXTRACT_ROWS:-20000000} --repeat 1
	$(BIN)/python bench/extract_task.py --rows $${BENCH_EXTRACT_ROWS:-20000000}
	$(BIN)/python bench/demo_data.py --rows $${BENCH_DEMO_ROWS:-20000000}
	$(BIN)/python bench/privacy.py --rows $${BENCH_PRIVACY_ROWS:-2000000}
	$(BIN)/python bench/scale.py --big $${BENCH_SCALE_BIG:-20000000} --small $${BENCH_SCALE_SMALL:-2000000}
	$(BIN)/python bench/leak_tracing.py --rows $${BENCH_LEAK_ROWS:-50000}
	$(BIN)/python bench/risk.py --rows $${BENCH_RISK_ROWS:-2000000}
	$(BIN)/python bench/representation.py

# Load test: gunicorn on PostgreSQL with 10,000 datasets, 50 clients for 60 s on loopback.
load: install
	$(BIN)/python bench/load.py

# A Python client generated from the OpenAPI schema (openapi-python-client, settings in
# openapi-client.yml) into var/client/jangteo_client; not committed. Use it with
# PYTHONPATH=var/client (README, "Interoperability").
client: install
	mkdir -p var/client
	DEBUG=1 $(BIN)/python manage.py spectacular --file var/client/schema.yml --validate --fail-on-warn
	$(BIN)/openapi-python-client generate --path var/client/schema.yml --output-path var/client/jangteo_client \
	    --meta none --config openapi-client.yml --overwrite
	@echo "Generated var/client/jangteo_client (PYTHONPATH=var/client)"

# Harvest /catalog.jsonld from a running server as a European portal does and validate it with
# the DCAT-AP 3.0.1 shapes in ../shared (URL=http://127.0.0.1:8000 by default).
harvest-check: install
	$(BIN)/python -c "import sys, rdflib, pyshacl; \
	g = rdflib.Graph().parse('$${URL:-http://$(HOST):$(PORT)}/catalog.jsonld', format='json-ld'); \
	s = rdflib.Graph().parse('../shared/data/dcat-ap-3.0.1/shapes.ttl').parse('../shared/data/dcat-ap-3.0.1/range.ttl'); \
	ok, _, text = pyshacl.validate(g, shacl_graph=s); print(text); sys.exit(0 if ok else 1)"

messages: install
	DEBUG=1 $(BIN)/python manage.py makemessages -l ko -l en --ignore=.venv --ignore=var --ignore=tests
	DEBUG=1 $(BIN)/python manage.py compilemessages --ignore=.venv

clean:
	rm -rf var/test var/tmp
