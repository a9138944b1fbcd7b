{{/*
Common labels of the Applications.
*/}}
{{- define "apps.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: gitops-platform
app.kubernetes.io/managed-by: {{ .Release.Service }}
gitops-platform/environment: {{ .Values.env }}
{{- end }}

{{/* One app's chart source: the chart at its path, env values then image values, and the platform's values. */}}
{{- define "apps.chartSource" -}}
repoURL: {{ .root.Values.repoURL | quote }}
targetRevision: {{ .root.Values.targetRevision | quote }}
path: {{ .app.path }}
helm:
  releaseName: {{ .app.name }}
  # Relative to the chart path: the environment's values, then the image Pulumi committed.
  valueFiles:
    {{- range .valueFiles }}
    - {{ . }}
    {{- end }}
  {{- with .root.Values.appValues }}
  # Platform facts from the root Application (the app's ingress host and load balancer annotations).
  valuesObject:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
