"""`metamon grafana deploy`: put metamon's folder, datasources and dashboards into a Grafana that already
runs, through its HTTP API (grafana-client), creating or updating each and leaving alone what already
matches. What it sends is what file provisioning would load: the datasources of
grafana/provisioning/datasources (environment variables expanded as Grafana does), the provisioning
folder, and the dashboards as the code renders them (the committed grafana/dashboards/*.json)."""

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from metamon.monitoring.dashboards.render import rendered

DATASOURCES_DIR = Path("grafana") / "provisioning" / "datasources"
DASHBOARD_PROVIDERS_DIR = Path("grafana") / "provisioning" / "dashboards"
# Keys of a provisioning file's datasource that are provisioning's own, not the HTTP API's.
PROVISIONING_ONLY = {"orgId", "version", "editable"}
DEPLOY_MESSAGE = "metamon grafana deploy"

# ${VAR}, ${VAR:-default} and $VAR, as Grafana expands provisioning files; $$ is a literal $.
_ENV = re.compile(r"\$\$|\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")


class DeployError(Exception):
    """Something the user must fix before (or after) talking to Grafana, said in one line."""


def expand(value, env: dict[str, str], unset: set[str]):
    """A provisioning value with its environment variables expanded; names used but unset go in `unset`."""
    if isinstance(value, dict):
        return {k: expand(v, env, unset) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, env, unset) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(3)
        if env.get(name):
            return env[name]
        if match.group(2) is not None:
            return match.group(2)
        unset.add(name)
        return ""

    return _ENV.sub(replace, value)


@dataclass
class Plan:
    """The objects the deploy sends: one folder, the datasources, the dashboards (uid -> JSON)."""

    folder_uid: str
    folder_title: str
    datasources: list[dict]
    dashboards: dict[str, dict]
    warnings: list[str] = field(default_factory=list)


def folder_uid(title: str) -> str:
    """A fixed folder UID from the provisioning folder's title (a deploy finds its folder again)."""
    return re.sub(r"[^a-zA-Z0-9_-]", "-", title.lower())[:40] or "metamon"


def plan(config_dir: Path, env: dict[str, str] | None = None) -> Plan:
    """What a deploy would send, from the config folder's provisioning files and the dashboards' code."""
    env = dict(os.environ if env is None else env)
    sources = sorted((config_dir / DATASOURCES_DIR).glob("*.y*ml"))
    providers = sorted((config_dir / DASHBOARD_PROVIDERS_DIR).glob("*.y*ml"))
    if not sources or not providers:
        raise DeployError(
            f"no provisioning files under {config_dir / 'grafana' / 'provisioning'}: run from a checkout "
            "or set METAMON_CONFIG_DIR (or --config-dir) to the folder holding grafana/"
        )
    datasources, warnings = [], []
    for path in sources:
        for source in yaml.safe_load(path.read_text()).get("datasources", []):
            unset: set[str] = set()
            body = expand({k: v for k, v in source.items() if k not in PROVISIONING_ONLY}, env, unset)
            secret_unset = sorted(n for n in unset if n in json.dumps(source.get("secureJsonData", {})))
            if secret_unset:
                raise DeployError(
                    f"datasource {source['name']!r} needs {', '.join(secret_unset)} set (a secret of "
                    f"{path.name}): Grafana would store an empty one"
                )
            warnings += [
                f"datasource {source['name']!r}: {n} is unset and has no default: sent empty"
                for n in sorted(unset)
            ]
            datasources.append(body)
    folders = {
        p["folder"] for path in providers for p in yaml.safe_load(path.read_text()).get("providers", [])
    }
    if len(folders) != 1:
        raise DeployError(f"the dashboard providers name {len(folders)} folders; a deploy uses one")
    title = folders.pop()
    dashboards = {d["uid"]: d for d in (json.loads(text) for text in rendered().values())}
    return Plan(folder_uid(title), title, datasources, dashboards, warnings)


@dataclass
class Change:
    kind: str  # folder, datasource, dashboard
    name: str
    action: str  # created, updated, unchanged

    def __str__(self) -> str:
        return f"{self.action:9} {self.kind} {self.name}"


def _missing(exc: Exception) -> bool:
    return getattr(exc, "status_code", None) == 404


def same_datasource(existing: dict, wanted: dict) -> bool:
    """Every field metamon sets is as it wants it, and every secret it sends is stored (Grafana never
    returns secrets, only which ones are set)."""
    plain = {k: v for k, v in wanted.items() if k != "secureJsonData"}
    stored = existing.get("secureJsonFields") or {}
    return all(existing.get(k) == v for k, v in plain.items()) and all(
        stored.get(k) for k in wanted.get("secureJsonData", {})
    )


# Fields Grafana adds to a saved dashboard: a dashboard that differs only in these is unchanged.
_SERVER_FIELDS = ("id", "version", "iteration")


def same_dashboard(existing: dict, wanted: dict, folder: str) -> bool:
    saved = {k: v for k, v in existing.get("dashboard", {}).items() if k not in _SERVER_FIELDS}
    ours = {k: v for k, v in wanted.items() if k not in _SERVER_FIELDS}
    return saved == ours and existing.get("meta", {}).get("folderUid") == folder


def apply(api, target: Plan, resend_secrets: bool = False) -> list[Change]:
    """Create or update the folder, each datasource (by uid) and each dashboard on a GrafanaApi;
    `resend_secrets` updates every datasource with a secret (a rotated password: Grafana never shows
    the stored one, so it cannot be compared)."""
    changes = []
    try:
        folder = api.folder.get_folder(target.folder_uid)
    except Exception as exc:
        if not _missing(exc):
            raise
        api.folder.create_folder(target.folder_title, uid=target.folder_uid)
        changes.append(Change("folder", target.folder_title, "created"))
    else:
        if folder.get("title") == target.folder_title:
            changes.append(Change("folder", target.folder_title, "unchanged"))
        else:
            api.folder.update_folder(target.folder_uid, title=target.folder_title, overwrite=True)
            changes.append(Change("folder", target.folder_title, "updated"))
    for source in target.datasources:
        try:
            existing = api.datasource.get_datasource_by_uid(source["uid"])
        except Exception as exc:
            if not _missing(exc):
                raise
            api.datasource.create_datasource(source)
            changes.append(Change("datasource", source["name"], "created"))
            continue
        if same_datasource(existing, source) and not (resend_secrets and source.get("secureJsonData")):
            changes.append(Change("datasource", source["name"], "unchanged"))
        else:
            api.datasource.update_datasource_by_uid(source["uid"], source)
            changes.append(Change("datasource", source["name"], "updated"))
    for uid, dashboard in sorted(target.dashboards.items()):
        try:
            existing = api.dashboard.get_dashboard(uid)
        except Exception as exc:
            if not _missing(exc):
                raise
            existing = None
        if existing is not None and same_dashboard(existing, dashboard, target.folder_uid):
            changes.append(Change("dashboard", dashboard["title"], "unchanged"))
            continue
        body = {
            "dashboard": {**dashboard, "id": None},
            "folderUid": target.folder_uid,
            "overwrite": True,
            "message": DEPLOY_MESSAGE,
        }
        api.dashboard.update_dashboard(body)
        changes.append(Change("dashboard", dashboard["title"], "created" if existing is None else "updated"))
    return changes


def grafana_message(exc: Exception) -> str:
    """Grafana's own answer to a failed request, in one line."""
    response = getattr(exc, "response", None)
    status = getattr(exc, "status_code", None)
    if isinstance(response, dict) and response.get("message"):
        return f"Grafana answered {status}: {response['message']}"
    if status is not None:
        return f"Grafana answered {status}: {str(response or exc).strip()[:300]}"
    return str(exc).splitlines()[0][:300]
