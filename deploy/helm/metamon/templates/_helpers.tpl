{{/* Names and labels, as `helm create` lays them out. */}}
{{- define "metamon.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "metamon.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "metamon.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "metamon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: metamon
{{- end -}}

{{/* Selector labels of one component: include with (dict "root" $ "component" "api"). */}}
{{- define "metamon.selectorLabels" -}}
app.kubernetes.io/name: {{ include "metamon.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "metamon.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "metamon.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "metamon.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The environment every metamon container gets: settings, the two secrets, a writable /tmp. */}}
{{- define "metamon.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "metamon.fullname" . }}-config
env:
  - name: METAMON_DATABASE_URL
    valueFrom:
      secretKeyRef: {name: {{ .Values.database.existingSecret }}, key: {{ .Values.database.urlKey }}}
  - name: METAMON_ALERT_WEBHOOK_TOKEN
    valueFrom:
      secretKeyRef: {name: {{ .Values.webhook.existingSecret }}, key: {{ .Values.webhook.tokenKey }}}
  - name: MPLCONFIGDIR
    value: /tmp
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pod-level fields shared by every Deployment and the migration Job. */}}
{{- define "metamon.podSpec" -}}
serviceAccountName: {{ include "metamon.serviceAccountName" . }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir: {}
{{- end -}}

{{/* The API as Grafana's server reaches it in the cluster: where the dashboards' actions go. */}}
{{- define "metamon.apiServiceUrl" -}}
http://{{ include "metamon.fullname" . }}-api.{{ .Release.Namespace }}.svc:{{ .Values.api.port }}
{{- end }}
