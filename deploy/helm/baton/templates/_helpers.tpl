{{/* Chart name, overridable; 63 characters is the Kubernetes name limit. */}}
{{- define "baton.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects; the release name alone when it already contains the chart name. */}}
{{- define "baton.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "baton.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The version of Baton that runs: the image tag, else the chart's appVersion. */}}
{{- define "baton.version" -}}
{{- default .Chart.AppVersion .Values.image.tag | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels on every object. */}}
{{- define "baton.labels" -}}
helm.sh/chart: {{ include "baton.chart" . }}
{{ include "baton.selectorLabels" . }}
app.kubernetes.io/version: {{ include "baton.version" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: baton
{{- end }}

{{- define "baton.selectorLabels" -}}
app.kubernetes.io/name: {{ include "baton.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The broker pods. The component label keeps the migration Job's pod out of the Deployment's
selector and the Service's endpoints.
*/}}
{{- define "baton.brokerSelectorLabels" -}}
{{ include "baton.selectorLabels" . }}
app.kubernetes.io/component: broker
{{- end }}

{{- define "baton.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "baton.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "baton.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The database Secret's name; rendering stops with instructions when it is missing. */}}
{{- define "baton.databaseSecret" -}}
{{- required "database.existingSecret is required: create a Secret holding the PostgreSQL URL (kubectl create secret generic baton-database --from-literal=url='postgres://user:password@host:5432/baton') and install with --set database.existingSecret=baton-database. The chart never takes the URL as a plain value." .Values.database.existingSecret }}
{{- end }}

{{/* BATON_DATABASE_URL from the existing Secret, for the broker and the migration Job. */}}
{{- define "baton.databaseEnv" -}}
- name: BATON_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "baton.databaseSecret" . }}
      key: {{ .Values.database.secretKey }}
{{- end }}

{{/*
Settings from .Values.config as BATON_* variables: each key is the broker's setting name
(src/config.ts), so drainSeconds becomes BATON_DRAIN_SECONDS. Unset ones keep the broker's
default; the schema admits only known keys.
*/}}
{{- define "baton.configEnv" -}}
{{- range $key, $value := .Values.config }}
- name: {{ printf "BATON_%s" (snakecase $key | upper) }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/*
Grace period: the preStop pause, then the broker's drain, then 10 s to close connections and
exit. An explicit value shorter than pause + drain would cut the drain short, so it is refused.
*/}}
{{- define "baton.terminationGracePeriodSeconds" -}}
{{- $needed := add .Values.lifecycle.preStopSleepSeconds .Values.config.drainSeconds }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $needed 10 }}
{{- else if le (int .Values.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed lifecycle.preStopSleepSeconds + config.drainSeconds (%v), or the drain is cut short" .Values.terminationGracePeriodSeconds $needed) }}
{{- else }}
{{- .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* The restricted Pod Security Standard, for the broker and the migration Job. */}}
{{- define "baton.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "baton.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
The broker's main port (7600) speaks TLS when tls.existingSecret is set. Probes and scrapers
then use the monitoring port (BATON_MONITORING_PORT, always plaintext): the kubelet's gRPC probe
cannot speak TLS, and Prometheus holds no client certificate for mutual TLS.
*/}}
{{- define "baton.tls" -}}
{{- if .Values.tls.existingSecret }}true{{ end }}
{{- end }}

{{/* The container port that probes and /metrics scrapes reach: "monitoring" under TLS, else the main one. */}}
{{- define "baton.probePortName" -}}
{{- if include "baton.tls" . }}monitoring{{ else }}baton{{ end }}
{{- end }}

{{- define "baton.probePortNumber" -}}
{{- if include "baton.tls" . }}7601{{ else }}7600{{ end }}
{{- end }}

{{/* Node placement shared by the broker and the migration Job. */}}
{{- define "baton.placement" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
