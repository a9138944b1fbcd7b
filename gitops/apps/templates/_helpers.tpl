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

{{/* One app's chart source: the chart at its path, env values then image values, and the GitHub-off overrides. */}}
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
  {{- if or .root.Values.imageOverride .root.Values.imagePullSecrets }}
  # GitHub management off: the image Pulumi built locally (and its pull secret), from the root Application.
  valuesObject:
    {{- with .root.Values.imageOverride }}
    image:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .root.Values.imagePullSecrets }}
    imagePullSecrets:
      {{- toYaml . | nindent 6 }}
    {{- end }}
  {{- end }}
{{- end }}
