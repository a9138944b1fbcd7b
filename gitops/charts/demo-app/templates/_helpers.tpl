{{/*
Chart name, truncated to 63 characters (the DNS label limit).
*/}}
{{- define "demo-app.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: fullnameOverride, else the release name, followed by the chart name unless the release name
already contains it. Truncated to 63 characters.
*/}}
{{- define "demo-app.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "demo-app.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The app version: app.version, else the image tag, else the chart's appVersion.
*/}}
{{- define "demo-app.version" -}}
{{- .Values.app.version | default .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
Selector labels: stable for the life of the Deployment (never add the version here).
*/}}
{{- define "demo-app.selectorLabels" -}}
app.kubernetes.io/name: {{ include "demo-app.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Common labels of every object.
*/}}
{{- define "demo-app.labels" -}}
helm.sh/chart: {{ include "demo-app.chart" . }}
{{ include "demo-app.selectorLabels" . }}
app.kubernetes.io/version: {{ include "demo-app.version" . | trunc 63 | quote }}
app.kubernetes.io/component: api
app.kubernetes.io/part-of: gitops-platform
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
ServiceAccount name.
*/}}
{{- define "demo-app.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "demo-app.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository@digest when a digest is set, else repository:tag. Fails when neither is set
and when the tag is "latest" (mutable tags defeat GitOps: git would no longer say what runs).
*/}}
{{- define "demo-app.image" -}}
{{- $image := .Values.image }}
{{- if eq (toString $image.tag) "latest" }}
{{- fail "image.tag \"latest\" is not allowed: use an immutable tag (e.g. {sha7}-{run}) or pin image.digest" }}
{{- end }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else if $image.tag }}
{{- printf "%s:%s" $image.repository $image.tag }}
{{- else }}
{{- fail "image: set image.digest (sha256:...) or image.tag; gitops/envs/<env>/image.yaml normally provides them" }}
{{- end }}
{{- end }}

{{/*
GIT_COMMIT: app.gitCommit, else the commit prefix of an image tag of the form {sha7}-{run}.
*/}}
{{- define "demo-app.gitCommit" -}}
{{- if .Values.app.gitCommit }}
{{- .Values.app.gitCommit }}
{{- else if regexMatch "^[0-9a-f]{7,40}-[0-9a-z]+$" (toString .Values.image.tag) }}
{{- regexFind "^[0-9a-f]{7,40}" .Values.image.tag }}
{{- end }}
{{- end }}

{{/*
Replica count the PodDisruptionBudget protects: the HPA minimum with autoscaling, else replicaCount.
*/}}
{{- define "demo-app.minReplicas" -}}
{{- if .Values.autoscaling.enabled }}
{{- .Values.autoscaling.minReplicas | int }}
{{- else }}
{{- .Values.replicaCount | int }}
{{- end }}
{{- end }}

{{/*
Checks across values that a JSON schema cannot express; included by the Deployment so every render runs them.
*/}}
{{- define "demo-app.validate" -}}
{{- $app := .Values.app }}
{{- $drainMs := add $app.shutdownTimeoutMs $app.drainDelayMs }}
{{- if le (mul .Values.terminationGracePeriodSeconds 1000 | int64) ($drainMs | int64) }}
{{- fail (printf "terminationGracePeriodSeconds=%v must be greater than the app's drain time (app.shutdownTimeoutMs %v + app.drainDelayMs %v = %vms), or the kubelet kills the pod mid-drain" .Values.terminationGracePeriodSeconds $app.shutdownTimeoutMs $app.drainDelayMs $drainMs) }}
{{- end }}
{{- if ge ($app.drainDelayMs | int64) ($app.shutdownTimeoutMs | int64) }}
{{- fail (printf "app.drainDelayMs=%v must be below app.shutdownTimeoutMs=%v (the app refuses to start otherwise)" $app.drainDelayMs $app.shutdownTimeoutMs) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (.Values.autoscaling.minReplicas | int) (.Values.autoscaling.maxReplicas | int)) }}
{{- fail (printf "autoscaling.minReplicas=%v must not exceed autoscaling.maxReplicas=%v" .Values.autoscaling.minReplicas .Values.autoscaling.maxReplicas) }}
{{- end }}
{{- if and (hasKey .Values.service "nodePort") (ne .Values.service.type "NodePort") }}
{{- fail (printf "service.nodePort is set but service.type is %s; set service.type=NodePort or drop nodePort" .Values.service.type) }}
{{- end }}
{{- end }}

{{/*
"true" when a canary Rollout splits traffic on the ALB: only where the Ingress exists. Otherwise the
canary's share of traffic is its share of the replicas behind the one Service.
*/}}
{{- define "demo-app.albTrafficRouting" -}}
{{- if and .Values.rollout.enabled (eq .Values.rollout.strategy "canary") .Values.ingress.enabled }}true{{ end }}
{{- end }}

{{/*
Arguments of the AnalysisTemplate: where the metrics are and which revision is judged (the new one).
*/}}
{{- define "demo-app.analysisArgs" -}}
- name: namespace
  value: {{ .Release.Namespace }}
- name: service
  value: {{ include "demo-app.fullname" . }}{{ if eq .Values.rollout.strategy "blueGreen" }}-preview{{ end }}
- name: revision
  valueFrom:
    podTemplateHashValue: Latest
{{- end }}

{{/*
Label of the Services a Rollout steers (value: stable, canary or preview).
*/}}
{{- define "demo-app.rolloutServiceLabel" -}}
gitops-platform/rollout-service
{{- end }}

{{/*
Name of the Secret the ExternalSecret writes (and the Deployment reads API_TOKEN from).
*/}}
{{- define "demo-app.secretName" -}}
{{- printf "%s-secrets" (include "demo-app.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
