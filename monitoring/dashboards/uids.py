"""The dashboards' fixed UIDs: alert annotations (dashboard_url), the digest and the dashboards' own links
point at them."""

UIDS = {
    "overview": "metamon-overview",
    "quality": "metamon-quality",
    "slo": "metamon-slo",
    "alerts": "metamon-alerts",
    "proposals": "metamon-proposals",
    "traces": "metamon-traces",
    "review": "metamon-review",
    "self": "metamon-self",
}
