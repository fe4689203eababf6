{{/* Chart name. */}}
{{- define "heliograph.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name; also the StatefulSet's, so pods are <fullname>-<ordinal>. */}}
{{- define "heliograph.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Headless Service giving each pod a stable DNS name for p2p. */}}
{{- define "heliograph.p2pService" -}}
{{- printf "%s-p2p" (include "heliograph.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The bootstrap address of pod 0, by its stable DNS name. */}}
{{- define "heliograph.bootstrap" -}}
{{- printf "/dns4/%s-0.%s.%s.svc.%s/tcp/%v" (include "heliograph.fullname" .) (include "heliograph.p2pService" .) .Release.Namespace .Values.clusterDomain .Values.ports.p2p -}}
{{- end -}}

{{- define "heliograph.selectorLabels" -}}
app.kubernetes.io/name: {{ include "heliograph.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "heliograph.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "heliograph.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
