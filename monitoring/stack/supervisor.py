"""supervisord runs the stack's processes; this module writes its config and talks to it over XML-RPC."""

import contextlib
import os
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport

from metamon.monitoring.settings import Settings
from metamon.monitoring.stack import StackError
from metamon.monitoring.stack.services import Service

# A process that dies sooner than this after starting failed to start: retried with back-off, then
# FATAL. Later deaths are restarted at once, at most one per START_SECONDS. Python services take
# several seconds to import on a loaded machine, so this is not the 1 s supervisor defaults to.
START_SECONDS = 10


def socket_path(settings: Settings) -> Path:
    return settings.stack.dir / "run" / "supervisor.sock"


def log_path(settings: Settings, name: str) -> Path:
    return settings.stack.dir / "logs" / f"{name}.log"


def render_config(settings: Settings, services: list[Service], stack_user: str | None) -> str:
    state = settings.stack.dir
    lines = [
        "[unix_http_server]",
        f"file={socket_path(settings)}",
        "chmod=0700",
        "",
        "[supervisord]",
        f"logfile={state / 'logs' / 'supervisord.log'}",
        f"pidfile={state / 'run' / 'supervisord.pid'}",
        f"directory={settings.config_dir}",
        "identifier=metamon",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{socket_path(settings)}",
    ]
    for svc in services:
        lines += [
            "",
            f"[program:{svc.name}]",
            "command=" + " ".join(_quote(arg) for arg in svc.command),
            # `stack up` starts each one itself, after checking its port. A process that dies is
            # restarted; one that dies within startsecs is retried startretries times, each wait a
            # second longer than the last (supervisor's back-off), then given up on: FATAL.
            "autostart=false",
            "autorestart=unexpected",
            f"startsecs={START_SECONDS}",
            f"startretries={settings.stack.start_retries}",
            f"stopsignal={svc.stopsignal}",
            "stopwaitsecs=60",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={log_path(settings, svc.name)}",
            "stdout_logfile_maxbytes=10MB",
            "stdout_logfile_backups=2",
        ]
        if svc.unprivileged and stack_user:
            lines.append(f"user={stack_user}")
        if svc.environment:
            env = ",".join(f'{k}="{v}"' for k, v in svc.environment.items())
            lines.append(f"environment={env}")
    return "\n".join(lines) + "\n"


def _quote(arg: str) -> str:
    # supervisor splits `command` with shlex; an empty argument (e.g. `--cluster.listen-address=`) is safe.
    return f'"{arg}"' if " " in arg else arg


class Supervisor:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.config_path = settings.stack.dir / "supervisord.conf"

    def _rpc(self):
        transport = SupervisorTransport(None, None, f"unix://{socket_path(self.settings)}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def running(self) -> bool:
        try:
            return self._rpc().getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Fault):
            return False

    def ensure_running(self, config: str) -> set[str] | None:
        """Run supervisord on `config`. When it already runs on another config, apply the difference
        the way `supervisorctl update` does: only programs whose section changed are stopped and
        re-added. Returns the programs that were stopped that way, or None when supervisord started
        afresh (then nothing runs)."""
        current = self.config_path.read_text() if self.config_path.exists() else None
        if self.running():
            if current == config:
                return set()
            self.config_path.write_text(config)
            return self._update()
        self.config_path.write_text(config)
        supervisord = Path(sys.executable).parent / "supervisord"
        result = subprocess.run(
            [str(supervisord), "-c", str(self.config_path)], capture_output=True, text=True, env=os.environ
        )
        if result.returncode != 0:
            raise StackError(f"supervisord did not start: {result.stderr.strip() or result.stdout.strip()}")
        for _ in range(50):
            if self.running():
                return None
            time.sleep(0.1)
        raise StackError(f"supervisord did not answer on {socket_path(self.settings)}")

    def _update(self) -> set[str]:
        rpc = self._rpc()
        [[added, changed, removed]] = rpc.reloadConfig()
        for name in changed + removed:
            with contextlib.suppress(xmlrpc.client.Fault):  # not running
                rpc.stopProcessGroup(name)
            rpc.removeProcessGroup(name)
        for name in changed + added:
            rpc.addProcessGroup(name)
        return set(changed)

    def states(self) -> dict[str, dict]:
        if not self.running():
            return {}
        return {info["name"]: info for info in self._rpc().getAllProcessInfo()}

    def start(self, name: str) -> None:
        try:
            self._rpc().startProcess(name, False)
        except xmlrpc.client.Fault as fault:
            if "ALREADY_STARTED" not in fault.faultString:
                raise StackError(f"supervisor could not start {name}: {fault.faultString}") from fault

    def stop(self, name: str) -> None:
        try:
            self._rpc().stopProcess(name, True)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString:
                raise StackError(f"supervisor could not stop {name}: {fault.faultString}") from fault

    def shutdown(self) -> None:
        rpc = self._rpc()
        rpc.stopAllProcesses(True)
        rpc.shutdown()
        for _ in range(100):
            if not socket_path(self.settings).exists() or not self.running():
                return
            time.sleep(0.1)
