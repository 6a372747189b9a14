# Orderflow: `make run` for the embedded demo, `make test` for the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# Where the demo answers: links in its emails and the addresses seed_demo prints follow it
# (config/settings/local.py), unless SITE_URL is set. 0.0.0.0 listens everywhere; a link needs
# an address to go to.
RUNSERVER_URL = http://$(if $(filter 0.0.0.0,$(HOST)),127.0.0.1,$(HOST)):$(PORT)

.PHONY: install run test lint fmt migrate seed worker beat serve check-deploy graph clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Installs the locked versions (requirements.lock), then the project itself.
$(STAMP): $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	RUNSERVER_URL=$(RUNSERVER_URL) $(BIN)/python manage.py seed_demo

# The embedded default: SQLite under var/, tasks in-process, mail printed to the console.
run: seed
	@echo "Serving on $(RUNSERVER_URL)/  (staff console at /admin/)"
	RUNSERVER_URL=$(RUNSERVER_URL) $(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The real stack: set DATABASE_URL, REDIS_URL, SECRET_KEY, ALLOWED_HOSTS, SITE_URL,
# PAYMENT_CARD_PROVIDER (and its secrets) and DJANGO_SETTINGS_MODULE=config.settings.production
# first (see README). The access log goes to stdout with signed-link tokens redacted
# (config/gunicorn.py).
serve: install
	$(BIN)/python manage.py collectstatic --noinput
	$(BIN)/gunicorn config.wsgi:application -c config/gunicorn.py --bind $(HOST):$(PORT) --workers $${WEB_CONCURRENCY:-3}

worker: install
	$(BIN)/celery -A config worker --loglevel INFO

beat: install
	$(BIN)/celery -A config beat --loglevel INFO

check-deploy: install
	DJANGO_SETTINGS_MODULE=config.settings.production $(BIN)/python manage.py check --deploy --fail-level WARNING

# Redraws the pictures in the README (need Graphviz's `dot`): the Order state machine, and the
# apps with the lifecycle interface from docs/architecture.dot.
graph: install
	$(BIN)/python manage.py graph_transitions orders.Order -o docs/order-states.png
	mv docs/order-states docs/order-states.dot
	dot -Tpng -Gdpi=110 docs/architecture.dot -o docs/architecture.png

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
