"""What a table row can do in metamon's API, and where it links to.

Actions (Grafana 12+ visualization actions) are of Grafana's `infinity` type (feature toggle
`vizActionsAuth`): Grafana's server sends the request through the provisioned Infinity datasource
`metamon-api`, which holds a scoped API key in its secureJsonData and allows only the API's host. The key
never reaches a browser or a dashboard's JSON, and the API needs no CORS allow-list, since no browser
calls it. Grafana's `fetch` actions would need both (the key in the dashboard, readable by every viewer,
and CORS on the API): metamon does not use them. Grafana wants an action's URL absolute: it is the API
as Grafana's server reaches it (the variable `api_server_url`).

Links open in the viewer's browser, which holds no API key: a row links to the API's JSON of its
object (for a client with a key) and to the API docs page of that operation, where "Try it out" takes
a key."""

import json

# The provisioned Infinity datasource (grafana/provisioning/datasources/metamon.yml).
API_DATASOURCE_UID = "metamon-api"
# Where a viewer's browser reaches the API (the dashboard variable `api_url`; compose publishes 8000).
API_URL_VARIABLE = "api_url"
API_URL_DEFAULT = "http://127.0.0.1:8000"
API = f"${{{API_URL_VARIABLE}}}"
# Where Grafana's server reaches the API (compose's service name; the datasource's allowed host).
API_SERVER_VARIABLE = "api_server_url"
API_SERVER_DEFAULT = "http://api:8000"
API_SERVER = f"${{{API_SERVER_VARIABLE}}}"
# The API's Swagger UI (FastAPI's docs_url in monitoring/api/main.py).
DOCS_PATH = "/api/v1/docs"
# Who did it, for the audit log: the Grafana user who clicked.
GRAFANA_USER = "${__user.login}"


def field(name: str) -> str:
    """The value of a column of the clicked row."""
    return f"${{__data.fields.{name}}}"


def docs(operation_id: str) -> str:
    """The API docs page (Swagger UI) of one operation, by its operation id `<tag>-<function>`."""
    tag = operation_id.rsplit("-", 1)[0]  # tags may hold a hyphen, function names do not
    return f"{API}{DOCS_PATH}#/{tag}/{operation_id}"


def api_action(
    title: str, path: str, body: dict, *, confirmation: str, variables: dict | None = None
) -> dict:
    """A POST to metamon's API through the Infinity datasource, after a confirmation; `variables` are
    asked of the viewer (name -> label) and used in `body` as $name (Grafana replaces `$name`, not
    `${name}`, with an action's variable, and puts the text in as typed)."""
    action = {
        "type": "infinity",
        "title": title,
        "confirmation": confirmation,
        "oneClick": False,
        "infinity": {
            "datasourceUid": API_DATASOURCE_UID,
            "method": "POST",
            "url": f"{API_SERVER}{path}",
            "body": json.dumps(body, sort_keys=True),
            "headers": [["Content-Type", "application/json"]],
        },
    }
    if variables:
        action["variables"] = [{"key": k, "name": v, "type": "string"} for k, v in variables.items()]
    return action
