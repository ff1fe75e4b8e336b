"""Preparing the stack's state dir once: the stack user, Elasticsearch from Maven, a PostgreSQL cluster."""

import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path

from psycopg import sql

from metamon.monitoring.db.connect import connect
from metamon.monitoring.settings import Settings
from metamon.monitoring.stack import StackError
from metamon.monitoring.stack.services import elasticsearch_home

ES_ARTIFACT = "org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"


def stack_user(settings: Settings) -> str | None:
    """The user PostgreSQL and Elasticsearch run as: the stack user when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(settings.stack.user)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", settings.stack.user],
            check=True,
        )
    return settings.stack.user


def check_binaries(settings: Settings) -> None:
    java = settings.stack.java_home / "bin" / "java"
    if not os.access(java, os.X_OK):
        raise StackError(
            f"Java not found at {java}: Elasticsearch needs OpenJDK 17 "
            "(run `make install`, or set METAMON_JAVA_HOME to a JDK 17 home)"
        )
    wanted = {
        "PostgreSQL 15": settings.stack.postgres_bin / "postgres",
        "Prometheus": Path("/usr/bin/prometheus"),
        "Alertmanager": Path("/usr/bin/prometheus-alertmanager"),
    }
    for what, path in wanted.items():
        if not os.access(path, os.X_OK):
            raise StackError(
                f"{what} not found at {path} (run `make install` to install the Debian packages)"
            )


def port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def make_dirs(settings: Settings, user: str | None) -> None:
    state = settings.stack.dir
    for sub in (
        "run",
        "logs",
        "logs/elasticsearch",
        "elasticsearch-data",
        "prometheus-data",
        "alertmanager-data",
    ):
        (state / sub).mkdir(parents=True, exist_ok=True)
    if user:
        for sub in ("run", "logs/elasticsearch", "elasticsearch-data"):
            shutil.chown(state / sub, user)
        # The stack user must reach its data dirs through every parent directory.
        probe = subprocess.run(["runuser", "-u", user, "--", "test", "-w", str(state / "run")])
        if probe.returncode != 0:
            raise StackError(
                f"user {user} cannot reach {state}: a parent directory is closed to other users; "
                "set METAMON_STACK_DIR to a directory it can reach"
            )


def install_elasticsearch(settings: Settings, user: str | None, say) -> None:
    home = elasticsearch_home(settings)
    if (home / "bin" / "elasticsearch").exists():
        return
    if shutil.which("mvn") is None:
        raise StackError("Maven (`mvn`) not found: it fetches Elasticsearch (run `make install`)")
    artifact = ES_ARTIFACT.format(version=settings.stack.elasticsearch_version)
    downloads = settings.stack.dir / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    say(f"fetching {artifact} with Maven")
    mvn = ["mvn", "-B", "-ntp", "-Dstyle.color=never"]
    if settings.stack.maven_settings:  # mirrors and proxies, as in any Maven build
        mvn += ["-s", str(settings.stack.maven_settings)]
    mvn += ["dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={downloads}"]
    result = subprocess.run(mvn, capture_output=True, text=True, cwd=downloads)
    archive = downloads / f"elasticsearch-{settings.stack.elasticsearch_version}.zip"
    if result.returncode != 0 or not archive.exists():
        errors = [line for line in result.stdout.splitlines() if line.startswith("[ERROR]")]
        reason = errors[0] if errors else result.stderr.strip()[-500:]
        raise StackError(
            f"could not fetch {artifact} from Maven Central (is the registry reachable?): {reason}"
        )
    say(f"unpacking Elasticsearch {settings.stack.elasticsearch_version}")
    # unzip, not zipfile: it keeps the executable bits of bin/ scripts.
    unpacked = subprocess.run(
        ["unzip", "-q", "-o", str(archive), "-d", str(settings.stack.dir)], capture_output=True, text=True
    )
    if unpacked.returncode != 0:
        raise StackError(f"could not unpack {archive}: {unpacked.stderr.strip()}")
    if user:
        subprocess.run(["chown", "-R", user, str(home)], check=True)


def init_postgres(settings: Settings, user: str | None, say) -> None:
    data = settings.stack.dir / "postgres"
    if (data / "PG_VERSION").exists():
        return
    say("creating the PostgreSQL cluster")
    data.mkdir(parents=True, exist_ok=True)
    pwfile = settings.stack.dir / "run" / "pgpass.tmp"
    pwfile.write_text(settings.database.password + "\n")
    if user:
        shutil.chown(data, user)
        shutil.chown(pwfile, user)
    cmd = [
        str(settings.stack.postgres_bin / "initdb"),
        "-D",
        str(data),
        "-U",
        settings.database.user,
        f"--pwfile={pwfile}",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--encoding=UTF8",
        "--locale=C.UTF-8",
    ]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, user=user)
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        raise StackError(f"initdb failed: {result.stderr.strip()[-500:]}")


def ensure_database(settings: Settings) -> None:
    """Create the application database if missing (CREATE DATABASE cannot run in a transaction)."""
    with connect(settings.database.maintenance_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (settings.database.name,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(settings.database.name)))
