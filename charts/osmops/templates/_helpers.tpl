{{/* Names and labels. */}}
{{- define "osmops.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "osmops.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "osmops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "osmops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "osmops.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "osmops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "osmops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "osmops.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The least-privilege rules the controller needs on OsmSyncs, Flux sources, Secrets and Events. */}}
{{- define "osmops.rules" -}}
- apiGroups: ["osmops.io"]
  resources: ["osmsyncs"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["osmops.io"]
  resources: ["osmsyncs/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["osmops.io"]
  resources: ["osmsyncs/finalizers"]
  verbs: ["update"]
- apiGroups: ["source.toolkit.fluxcd.io"]
  resources: ["gitrepositories", "ocirepositories", "buckets", "externalartifacts"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["secrets", "configmaps"]
  {{- if .Values.controller.watchConfigsLabelSelector }}
  verbs: ["get", "list", "watch"]
  {{- else }}
  verbs: ["get"]
  {{- end }}
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}
