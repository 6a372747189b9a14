"""Fixtures for the fault tests: a stack of real processes per test, on a Redis and a database
of its own, with the sinks that count what leaves it; and the figures each test measured,
shown in the terminal summary of every run (`make test` included)."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.sinks import SmtpSink, WebhookSink
from tests.faults.stack import Database, RedisServer, Stack, prepare_template

FIGURES = pytest.StashKey[list[str]]()
STACK = pytest.StashKey[Stack]()
RUN_ID = secrets.token_hex(4)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[FIGURES] = []


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    figures = config.stash.get(FIGURES, [])
    if figures:
        terminalreporter.section("fault tests: measured")
        for line in figures:
            terminalreporter.write_line(line)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    stack = item.stash.get(STACK, None)
    if stack is not None and report.failed:
        report.sections.append(("fault stack: process logs (tail)", stack.logs()))
    return report


class Figures:
    """What a test measured: printed, and listed again in the run's terminal summary."""

    def __init__(self, config: pytest.Config, test: str) -> None:
        self._lines = config.stash[FIGURES]
        self._test = test

    def record(self, text: str) -> None:
        line = f"{self._test}: {text}"
        self._lines.append(line)
        sys.stdout.write(line + "\n")


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    return Figures(request.config, request.node.name)


@pytest.fixture(scope="session")
def faults_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The processes' logs, a directory per test; kept when a test failed."""
    path = Path(tempfile.mkdtemp(prefix="orderflow-faults-"))
    yield path
    if request.session.testsfailed:
        request.config.stash[FIGURES].append(f"process logs kept in {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def faults_template(faults_dir: Path) -> Iterator[tuple[Database, str]]:
    """Migrated and seeded once; each test gets a copy (CREATE DATABASE ... TEMPLATE)."""
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        pytest.skip("the fault tests need PostgreSQL (set DATABASE_URL); CI runs them")
    assert shutil.which("redis-server"), "the fault tests start redis-server: install Redis"
    database, seeded = prepare_template(f"orderflow_faults_{RUN_ID}_template", work_dir=faults_dir)
    try:
        yield database, seeded["api_key"]
    finally:
        database.drop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    sink = WebhookSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def stack(
    request: pytest.FixtureRequest,
    faults_template: tuple[Database, str],
    faults_dir: Path,
    smtp_sink: SmtpSink,
) -> Iterator[Stack]:
    """A Redis started for this test, a copy of the template database, and a Stack to start
    gunicorn, workers and beat on them; everything stopped and dropped afterwards."""
    template, api_key = faults_template
    log_dir = faults_dir / request.node.name
    log_dir.mkdir()
    redis = RedisServer(log_dir).start()
    database = Database.create(
        f"orderflow_faults_{RUN_ID}_{secrets.token_hex(3)}", template=template.name
    )
    built = Stack(
        database=database,
        redis=redis,
        smtp_port=smtp_sink.port,
        log_dir=log_dir,
        api_key=api_key,
    )
    request.node.stash[STACK] = built
    try:
        yield built
    finally:
        built.stop()
        database.drop()
