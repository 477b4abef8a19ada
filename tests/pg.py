"""A throw-away PostgreSQL server for tests: ``postgres_url`` yields a SQLAlchemy URL.

The server runs from the machine's PostgreSQL binaries (``initdb``, ``pg_ctl``,
``postgres``: on PATH, else ``/usr/lib/postgresql/<version>/bin``) in a temporary data
folder, on a free loopback port, with its unix socket in that folder, and is stopped and
deleted after the tests. ``initdb`` refuses to run as root, so under root the server runs as
the ``postgres`` system user (``runuser -u postgres --``) and the folder is handed to it.

Binaries missing: the tests are skipped with an install hint, except when the environment
variable ``CI`` is ``true``, where a missing server is a failure (CI must install it).

Use: ``from tests.pg import postgres_url`` in a test module, then take ``postgres_url`` as a
test argument. The URL connects with a password over TCP (``PG_PASSWORD``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["PG_DATABASE", "PG_PASSWORD", "PG_USER", "find_pg_bin", "postgres_server",
           "postgres_url", "require_pg_bin"]

PG_USER = "winback"
PG_PASSWORD = "s3cret-pw"
PG_DATABASE = "winback_test"
_TOOLS = ("initdb", "pg_ctl", "postgres")


def find_pg_bin() -> Path | None:
    """Folder holding initdb, pg_ctl and postgres: PATH first, then the newest distro install."""
    on_path = [shutil.which(t) for t in _TOOLS]
    if all(on_path):
        return Path(on_path[0]).resolve().parent
    candidates = glob.glob("/usr/lib/postgresql/*/bin") + glob.glob("/usr/pgsql-*/bin") + [
        "/usr/local/pgsql/bin", "/opt/homebrew/opt/postgresql/bin"]

    def version(path: str) -> tuple[int, ...]:
        digits = [int(p) for p in Path(path).parent.name.replace("pgsql-", "").split(".")
                  if p.isdigit()]
        return tuple(digits) or (0,)

    for folder in sorted(candidates, key=version, reverse=True):
        if all((Path(folder) / t).is_file() for t in _TOOLS):
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user() -> list[str]:
    """Command prefix that runs a PostgreSQL tool as a non-root user."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if not runuser:
        raise RuntimeError("running as root but runuser is not available to drop to the "
                           "postgres user")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root but there is no 'postgres' system user to run "
                           "the test server as (apt-get install postgresql creates it)") from None
    return [runuser, "-u", "postgres", "--"]


def _run(cmd: list[str], log: Path | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n"
                           f"{proc.stderr}\n{tail}")


@contextlib.contextmanager
def postgres_server(bin_dir: Path) -> Iterator[str]:
    """Start a server from ``bin_dir``; yield a ``postgresql+psycopg://`` URL; stop it after."""
    prefix = _as_server_user()
    tmp = Path(tempfile.mkdtemp(prefix="winback-pg-"))
    data, sock, log, pwfile = tmp / "data", tmp / "sock", tmp / "server.log", tmp / "pw"
    sock.mkdir()
    pwfile.write_text(PG_PASSWORD + "\n")
    if prefix:
        shutil.chown(tmp, "postgres")
        for p in (sock, pwfile):
            shutil.chown(p, "postgres")
    port = _free_port()
    started = False
    try:
        _run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", PG_USER,
              f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
              "-E", "UTF8", "--no-locale", "--no-sync"])
        opts = (f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")
        _run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts,
              "-w", "-t", "60", "start"], log)
        started = True
        createdb = bin_dir / "createdb"
        if createdb.is_file():
            _run([*prefix, str(createdb), "-h", str(sock), "-p", str(port), "-U", PG_USER,
                  PG_DATABASE])
        else:
            _run([*prefix, str(bin_dir / "psql"), "-h", str(sock), "-p", str(port), "-U",
                  PG_USER, "-d", "postgres", "-c", f"CREATE DATABASE {PG_DATABASE}"])
        yield f"postgresql+psycopg://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{port}/{PG_DATABASE}"
    finally:
        if started:
            subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m",
                            "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


def require_pg_bin() -> Path:
    """The binaries' folder; skip the test when absent, or fail it when ``CI`` is ``true``."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        msg = "PostgreSQL server binaries not found (apt-get install postgresql)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + "; CI must install them", pytrace=False)
        pytest.skip(msg)
    return bin_dir


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh database on a test-owned PostgreSQL server."""
    with postgres_server(require_pg_bin()) as url:
        yield url
