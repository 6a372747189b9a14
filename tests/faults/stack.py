"""The real stack for the fault tests: a Redis of their own, a PostgreSQL database of their own
on the shared server, gunicorn, Celery workers and beat, each a process group of its own so a
test can stop, kill (-9) and start any of them again. Production settings throughout.

Nothing here touches the shared Redis (6379) or any database but the ones it created."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from celery import Celery
from django.conf import settings

REPO = Path(__file__).resolve().parents[2]
BEAT_SCHEDULE = settings.CELERY_BEAT_SCHEDULE  # base settings: the same in production
SCHEDULE_READ = "DatabaseScheduler: Schedule changed."  # beat's log, as it reads its schedule
PYTHON = sys.executable


def admin_dsn(database_url: str) -> str:
    """The server of DATABASE_URL, its maintenance database: where databases are created."""
    return urlunsplit(urlsplit(database_url)._replace(path="/postgres"))


ADMIN_DSN = admin_dsn(os.environ.get("DATABASE_URL", ""))
LOG_TAIL_LINES = 60
LOG_LINE_CHARS = 1000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(
    what: str,
    check: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 0.2,
    state: Callable[[], str] | None = None,
) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds, saying
    where things stood (`state`)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            where = f"; {state()}" if state is not None else ""
            raise AssertionError(f"{what}: not within {timeout:.0f} s{where}")
        time.sleep(interval)


class Service:
    """One command run as its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start {' '.join(self.argv)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(  # noqa: S603 - our own fixed commands
                self.argv,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill -9 takes the children too
            )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """kill -9 of the whole process group, as when a host or container dies."""
        self._signal_group(signal.SIGKILL)
        self._reap(timeout=10)

    def stop(self, *, timeout: float = 15) -> None:
        """SIGTERM (a graceful shutdown), then SIGKILL if it takes longer than `timeout`."""
        if self.process is None:
            return
        self._signal_group(signal.SIGTERM)
        if not self._reap(timeout=timeout):
            self._signal_group(signal.SIGKILL)
            self._reap(timeout=10)

    def _signal_group(self, signum: int) -> None:
        if self.process is None or self.process.returncode is not None:
            return  # never started, or reaped: its id may belong to someone else by now
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)  # the group this Service started, by its id

    def _reap(self, *, timeout: float) -> bool:
        assert self.process is not None
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(_shortened(line) for line in text[-lines:])


def _shortened(line: str) -> str:
    """A JSON log line with a traceback is long: its start says what, its end where."""
    if len(line) <= LOG_LINE_CHARS:
        return line
    half = LOG_LINE_CHARS // 2
    return f"{line[:half]} [...] {line[-half:]}"


class RedisServer(Service):
    """`redis-server` on its own port, nothing persisted; restartable on the same port."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        super().__init__(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(log_dir),
            ],
            dict(os.environ),
            log_dir,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> RedisServer:
        super().start()
        wait_for("redis answers PING", self.answers, timeout=10, interval=0.05)
        return self

    def stop(self, *, timeout: float = 15) -> None:
        super().stop(timeout=timeout)
        wait_for("redis stopped", lambda: not self.answers(), timeout=5, interval=0.05)


class Database:
    """A database of its own on the shared PostgreSQL server."""

    def __init__(self, name: str) -> None:
        self.name = name
        base = ADMIN_DSN.rsplit("/", 1)[0]
        self.url = f"{base}/{name}"

    @classmethod
    def create(cls, name: str, *, template: str | None = None) -> Database:
        clause = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"{clause}')
        return cls(name)

    def drop(self) -> None:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [self.name],
            )
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def terminate_connections(self) -> int:
        """What a database failover or a network blip does to every open connection."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.name],
            ).fetchall()
        return sum(1 for (terminated,) in rows if terminated)

    @contextmanager
    def locked(self, table: str) -> Iterator[None]:
        """Hold an EXCLUSIVE lock on a table: reads go on, every write and row lock waits."""
        with psycopg.connect(self.url) as conn:
            conn.execute(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE')
            try:
                yield
            finally:
                conn.rollback()

    def rows(self, sql: str, params: Any = None) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def value(self, sql: str, params: Any = None) -> Any:
        found = self.rows(sql, params)
        return found[0][0] if found else None


# One key for the whole run: the template's seed and every stack sign alike.
FAULTS_SECRET_KEY = secrets.token_urlsafe(48)


def production_env(
    *,
    database: Database,
    redis_url: str,
    smtp_port: int,
    site_url: str,
    media_root: Path,
) -> dict[str, str]:
    """The environment production reads (config/settings/production.py), pointed at this
    stack: its database, its Redis, mail to the SMTP sink, webhooks allowed to 127.0.0.1."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANYMAIL_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DATABASE_URL": database.url.replace("postgresql://", "postgres://", 1),
            "REDIS_URL": redis_url,
            "SECRET_KEY": FAULTS_SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SITE_URL": site_url,
            "ANYMAIL_PROVIDER": "",
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_port),
            "EMAIL_USE_TLS": "false",
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
            "EMAIL_TIMEOUT": "10",
            "SMS_BACKEND": "",
            "PAYMENT_CARD_PROVIDER": "test",
            # the test gateway on purpose: web and workers refuse it otherwise
            "PAYMENT_ALLOW_TEST_GATEWAY": "true",
            "PARTNER_WEBHOOK_ALLOW_PRIVATE": "true",
            "MEDIA_ROOT": str(media_root),
            "LOG_LEVEL": "INFO",
            # Production's own timings, whatever the environment running the tests says:
            # the README quotes what these tests measure with them.
            "SWEEP_SECONDS": "15",
            "ORDER_REVIEW_STALL_SECONDS": "30",
            "OUTBOX_RELAY_SECONDS": "30",
            "PAYMENT_RECONCILE_SECONDS": "60",
            "PAYMENT_RETRY_FIRST_MINUTES": "5",
            "CONN_MAX_AGE": "60",  # production's default (config/settings/production.py)
            "RATE_LIMITS_FAIL_CLOSED": "login,login_account,register,password_reset",
            "PARTNER_API_THROTTLE_RATE": "600/min",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(REPO),
        }
    )
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """`manage.py <args>` under the given environment; its stdout, or a failure with both
    streams."""
    done = subprocess.run(  # noqa: S603 - our own fixed command
        [PYTHON, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


def prepare_template(name: str, *, work_dir: Path) -> tuple[Database, dict[str, Any]]:
    """The template every scenario's database is copied from: migrated, static files
    collected (production serves them through WhiteNoise's manifest), and seeded."""
    database = Database.create(name)
    env = production_env(
        database=database,
        redis_url="redis://127.0.0.1:1/0",  # configured, as production requires; never used
        smtp_port=1,
        site_url="http://127.0.0.1",
        media_root=work_dir / "media",
    )
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    out = manage(env, "shell", "-c", "from tests.faults.seed import seed; seed()")
    seeded = json.loads(out.strip().splitlines()[-1])
    return database, seeded


class Stack:
    """One scenario's processes: gunicorn, Celery workers and beat on one database and one
    Redis. Every process it started is stopped at the end, by its own process group."""

    def __init__(
        self,
        *,
        database: Database,
        redis: RedisServer,
        smtp_port: int,
        log_dir: Path,
        api_key: str,
    ) -> None:
        self.database = database
        self.redis = redis
        self.log_dir = log_dir
        self.api_key = api_key
        self.web_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.env = production_env(
            database=database,
            redis_url=redis.url,
            smtp_port=smtp_port,
            site_url=self.base_url,
            media_root=log_dir / "media",
        )
        self.services: list[Service] = [redis]
        self._workers = 0

    def _service(self, name: str, argv: list[str]) -> Service:
        service = Service(name, argv, self.env, self.log_dir)
        self.services.append(service)
        return service

    def start_web(self, *, workers: int = 2) -> Service:
        web = self._service(
            "gunicorn",
            [
                PYTHON,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "-c",
                "config/gunicorn.py",  # as `make serve` runs it
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--workers",
                str(workers),
                "--graceful-timeout",
                "5",  # the tests' own shutdown: no need to wait 30 s
                "--no-control-socket",  # its default path is one per user: stacks would share it
            ],
        ).start()
        wait_for("gunicorn answers /healthz", self._web_answers, timeout=30)
        return web

    def _web_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.web_port), timeout=0.5):
                return True
        except OSError:
            return False

    def start_worker(self, *, wait: bool = True) -> Service:
        """A Celery worker as production runs it (prefork, 2 processes), under a new name;
        by default, once it answers a ping through the broker."""
        self._workers += 1
        name = f"worker{self._workers}"
        hostname = f"faults-{name}-{os.getpid()}@{socket.gethostname()}"
        worker = self._service(
            name,
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                "2",
                "--hostname",
                hostname,
                "--loglevel",
                "INFO",
            ],
        ).start()
        if wait:
            wait_for(f"{name} answers a ping", lambda: self._pong(hostname), timeout=60)
        return worker

    def _pong(self, hostname: str) -> bool:
        control = Celery(broker=self.redis.url)
        try:
            return bool(control.control.ping(destination=[hostname], timeout=0.5))
        except Exception:  # the broker is not answering (yet)
            return False
        finally:
            control.close()

    def start_beat(self) -> Service:
        """Beat with production's DatabaseScheduler, once it has written the schedule."""
        beat = self._service(
            "beat",
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel",
                "INFO",
                "--pidfile",
                "",
                "--schedule",
                str(self.log_dir / "beat-schedule"),
            ],
        ).start()
        # As it starts, beat writes its schedule into the database, then reads it back; a
        # database error meanwhile ends beat, or leaves an entry unwritten until it restarts
        # (django_celery_beat's DatabaseScheduler). That is another scenario than the ones
        # here, so they wait for it to be done.
        wait_for(
            "beat has written its schedule",
            lambda: (
                self.database.value(
                    "SELECT COUNT(*) FROM django_celery_beat_periodictask WHERE name = ANY(%s)",
                    [list(BEAT_SCHEDULE)],
                )
                == len(BEAT_SCHEDULE)
            ),
            timeout=30,
        )
        wait_for(
            "beat has read its schedule back",
            lambda: SCHEDULE_READ in beat.log_path.read_text(errors="replace"),
            timeout=30,
        )
        time.sleep(1)  # the line comes just before the read
        return beat

    def stop(self) -> None:
        for service in reversed(self.services):  # Redis last
            service.stop()

    def logs(self) -> str:
        parts = []
        for service in self.services:
            parts.append(f"----- {service.name} ({service.log_path}) -----\n{service.log_tail()}")
        return "\n".join(parts)
