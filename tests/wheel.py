"""The server wheel, built from this checkout and installed in a fresh virtual environment outside it.

The wheel is built from exactly what the Dockerfile's build stage copies, without build isolation (no
download at test time). The environment's own site-packages holds only the wheel; its dependencies come
from the checkout's virtual environment through a .pth line (installing them again would download and
take minutes). A .pth *line* only adds a directory to sys.path: the checkout's editable-install hooks,
themselves .pth files there, are not run, so every `metamon` module comes from the wheel.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

from metamon.monitoring.settings import Settings
from tests.paths import CHECKOUT


def dockerfile_build_sources() -> list[str]:
    """The paths the Dockerfile's first (wheel-building) stage copies from the build context."""
    stage = CHECKOUT.joinpath("Dockerfile").read_text().split("\nFROM ")[1]
    sources = []
    for line in stage.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            sources += line.split()[1:-1]
    return sources


@dataclass(frozen=True)
class InstalledWheel:
    wheel: Path
    venv: Path
    workdir: Path  # outside the checkout, with no .env

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def site_packages(self) -> Path:
        [path] = self.venv.glob("lib/python*/site-packages")
        return path

    def env(self, settings: Settings, database_url: str, **extra: str) -> dict[str, str]:
        """The environment of a process run from the wheel against the local stack: no METAMON_* of the
        test run leaks in, the stack's addresses are given explicitly."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("METAMON_")}
        env.update(
            PATH=f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            METAMON_DATABASE_URL=database_url,
            METAMON_ELASTICSEARCH_URL=settings.search.url,
            METAMON_PROMETHEUS_URL=settings.alerting.prometheus_url,
            METAMON_ALERTMANAGER_URL=settings.alerting.alertmanager_url,
            METAMON_SMTP_PORT=str(settings.notifications.smtp_port),
            METAMON_ALERT_WEBHOOK_TOKEN=settings.webhook_token(),
            METAMON_LOG_LEVEL="INFO",
            **extra,
        )
        return env

    def run(self, *args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.bin / "metamon"), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.workdir,
            timeout=timeout,
        )


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory) -> InstalledWheel:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in dockerfile_build_sources():
        origin = CHECKOUT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", root, source],
        check=True,
        capture_output=True,
    )
    [wheel] = root.glob("metamon-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    [site_packages] = venv.glob("lib/python*/site-packages")
    (site_packages / "checkout-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # --ignore-installed: the checkout's editable metamon is visible through the .pth; never touch it.
    subprocess.run(
        [
            venv / "bin" / "python",
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--ignore-installed",
            wheel,
        ],
        check=True,
        capture_output=True,
    )
    workdir = root / "run"
    workdir.mkdir()
    return InstalledWheel(wheel=wheel, venv=venv, workdir=workdir)
