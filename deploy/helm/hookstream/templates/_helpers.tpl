{{/* Names and labels. */}}

{{- define "hookstream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hookstream.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "hookstream.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "hookstream.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hookstream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hookstream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "hookstream.labels" -}}
{{ include "hookstream.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of one role's objects. Call with (dict "ctx" $ "role" "worker"). */}}
{{- define "hookstream.roleLabels" -}}
{{ include "hookstream.labels" .ctx }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "hookstream.roleSelectorLabels" -}}
{{ include "hookstream.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "hookstream.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hookstream.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret every role reads: the user's existingSecret or the one this chart creates. */}}
{{- define "hookstream.secretName" -}}
{{- default (include "hookstream.fullname" .) .Values.secret.existingSecret -}}
{{- end -}}

{{/* Settings the chart itself needs. */}}

{{/* A duration setting ("25", "25s", "2m", "1h") in whole seconds. */}}
{{- define "hookstream.seconds" -}}
{{- $v := toString . -}}
{{- if hasSuffix "h" $v -}}{{ mul (atoi (trimSuffix "h" $v)) 3600 }}
{{- else if hasSuffix "m" $v -}}{{ mul (atoi (trimSuffix "m" $v)) 60 }}
{{- else -}}{{ atoi (trimSuffix "s" $v) }}
{{- end -}}
{{- end -}}

{{- define "hookstream.partitions" -}}
{{- atoi (toString .Values.config.HOOKSTREAM_PARTITIONS) -}}
{{- end -}}

{{/* Redis host:port for KEDA's redis-streams scaler, which takes no URL. */}}
{{- define "hookstream.redisAddress" -}}
{{- $keda := .Values.worker.autoscaling.keda -}}
{{- if $keda.redisAddress -}}
{{- $keda.redisAddress -}}
{{- else if .Values.redis.url -}}
{{- $u := urlParse .Values.redis.url -}}
{{- if contains ":" $u.host -}}{{ $u.host }}{{- else -}}{{ $u.host }}:6379{{- end -}}
{{- else -}}
{{- fail "worker.autoscaling.keda.redisAddress is required when Redis is not given by redis.url" -}}
{{- end -}}
{{- end -}}

{{/* Checks that no single template can make on its own. */}}
{{- define "hookstream.validate" -}}
{{- if and (not .Values.secret.existingSecret) (not .Values.secret.tokens) -}}
{{- fail "set secret.tokens (comma-separated API tokens) or secret.existingSecret" -}}
{{- end -}}
{{- $sentinel := and (eq (toString .Values.config.HOOKSTREAM_REDIS_MODE) "sentinel") .Values.config.HOOKSTREAM_REDIS_SENTINELS -}}
{{- if not (or .Values.redis.url .Values.secret.redisUrl .Values.secret.existingSecret $sentinel) -}}
{{- fail "set redis.url, secret.redisUrl, REDIS_URL in secret.existingSecret, or HOOKSTREAM_REDIS_MODE=sentinel with HOOKSTREAM_REDIS_SENTINELS: the chart needs an external Redis" -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled .Values.metrics.podMonitor.enabled -}}
{{- fail "enable metrics.serviceMonitor or metrics.podMonitor, not both: every pod would be scraped twice" -}}
{{- end -}}
{{- end -}}

{{/*
Scrape relabeling shared by the ServiceMonitor and the PodMonitor: job = <fullname>-<role>,
so dashboards, rules and the KEDA prometheus query can tell roles and releases apart.
*/}}
{{- define "hookstream.jobRelabeling" -}}
- sourceLabels: [__meta_kubernetes_pod_label_app_kubernetes_io_component]
  targetLabel: job
  replacement: {{ include "hookstream.fullname" . }}-$1
{{- end -}}
