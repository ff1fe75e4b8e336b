"""What Alertmanager's notifications say: the Go templates of the alert emails and the Slack message.

Each alert's annotations (summary, description, runbook_url, dashboard_url) come from the alert rules;
these templates only lay them out. They are written as `metamon.tmpl` next to alertmanager.yml, whose
receivers call them by name, so `amtool check-config` parses them with the config.
"""

TEMPLATES_FILE = "metamon.tmpl"

# The receivers' fields, each calling one template below.
EMAIL_SUBJECT = '{{ template "metamon.email.subject" . }}'
EMAIL_HTML = '{{ template "metamon.email.html" . }}'
EMAIL_TEXT = '{{ template "metamon.email.text" . }}'
SLACK_TITLE = '{{ template "metamon.slack.title" . }}'
SLACK_TITLE_LINK = "{{ .CommonAnnotations.dashboard_url }}"
SLACK_TEXT = '{{ template "metamon.slack.text" . }}'
SLACK_COLOR = '{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}'

# `{{-` and `-}}` trim the line breaks that only make the file readable. Alertmanager renders the email's
# HTML with Go's html/template, which escapes the annotation values.
TEMPLATES = """\
{{/* Rendered by `metamon alerting render` from monitoring/alerting/alertmanager_messages.py. */}}

{{/* "[FIRING:2] MetamonFactAccuracyLow (acme/chat)"; a group of several alert names counts them. */}}
{{ define "metamon.headline" -}}
[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}]
{{- if .CommonLabels.alertname }} {{ .CommonLabels.alertname }}
{{- else }} {{ .Alerts | len }} {{ .CommonLabels.severity }} alerts{{ end }}
{{- if .CommonLabels.project }} ({{ .CommonLabels.project }}
{{- if .CommonLabels.app }}/{{ .CommonLabels.app }}{{ end }}){{ end }}
{{- end }}

{{ define "metamon.email.subject" }}metamon {{ template "metamon.headline" . }}{{ end }}

{{ define "metamon.email.html" -}}
<!DOCTYPE html>
<html>
<body style="font-family: sans-serif; color: #222">
<h2>metamon: {{ .Alerts.Firing | len }} firing, {{ .Alerts.Resolved | len }} resolved</h2>
{{ range .Alerts -}}
<div style="border-left: 4px solid {{ if eq .Status "firing" }}#c62828{{ else }}#2e7d32{{ end }}; \
padding: 4px 12px; margin: 16px 0">
<h3 style="margin: 0">{{ .Labels.alertname }} ({{ .Labels.severity }}, {{ .Status }})</h3>
<p><strong>{{ .Annotations.summary }}</strong></p>
<p>{{ .Annotations.description }}</p>
<p>{{ if .Labels.project }}project {{ .Labels.project }}{{ end }}
{{- if .Labels.app }}, app {{ .Labels.app }}{{ end }} &middot; since \
{{ .StartsAt.Format "2006-01-02 15:04:05 MST" }}</p>
<p>{{ if .Annotations.runbook_url }}<a href="{{ .Annotations.runbook_url }}">Runbook</a>{{ end }}
{{ if .Annotations.dashboard_url }}<a href="{{ .Annotations.dashboard_url }}">Dashboard</a>{{ end }}</p>
</div>
{{ end -}}
</body>
</html>
{{ end }}

{{ define "metamon.email.text" -}}
{{ range .Alerts -}}
[{{ .Status | toUpper }}] {{ .Labels.alertname }} ({{ .Labels.severity }})
{{- if .Labels.project }} project={{ .Labels.project }}{{ end }}
{{- if .Labels.app }} app={{ .Labels.app }}{{ end }}
{{ .Annotations.summary }}
{{ .Annotations.description }}
Runbook: {{ .Annotations.runbook_url }}
Dashboard: {{ .Annotations.dashboard_url }}
Since: {{ .StartsAt.Format "2006-01-02 15:04:05 MST" }}

{{ end -}}
{{ end }}

{{ define "metamon.slack.title" }}{{ template "metamon.headline" . }}{{ end }}

{{/* Slack's mrkdwn: *bold*, <url|label> links. */}}
{{ define "metamon.slack.text" -}}
{{ range .Alerts -}}
*{{ .Annotations.summary }}*
{{ .Annotations.description }}
{{ if .Annotations.runbook_url }}<{{ .Annotations.runbook_url }}|Runbook>{{ end }}
{{- if .Annotations.dashboard_url }} | <{{ .Annotations.dashboard_url }}|Dashboard>{{ end }}
{{ end -}}
{{ end }}
"""
