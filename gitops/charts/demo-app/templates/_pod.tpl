{{/*
The pod template (metadata and spec) of the app, shared by the Deployment and the Rollout: non-root,
read-only root filesystem, drop ALL, seccomp RuntimeDefault, requests and limits, health probes, the
API_TOKEN from the ExternalSecret's Secret when enabled.
*/}}
{{- define "demo-app.podTemplate" -}}
{{- $app := .Values.app }}
{{- $probes := .Values.probes }}
{{- $gitCommit := include "demo-app.gitCommit" . -}}
metadata:
  labels:
    {{- include "demo-app.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "demo-app.serviceAccountName" . }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  # Longer than SHUTDOWN_TIMEOUT_MS + DRAIN_DELAY_MS (checked at render time).
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    fsGroup: 10001
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: {{ .Chart.Name }}
      image: {{ include "demo-app.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      ports:
        - name: http
          containerPort: 8080
          protocol: TCP
      env:
        - name: PORT
          value: "8080"
        - name: APP_ENV
          value: {{ .Values.env | quote }}
        - name: APP_VERSION
          value: {{ include "demo-app.version" . | quote }}
        {{- with $gitCommit }}
        - name: GIT_COMMIT
          value: {{ . | quote }}
        {{- end }}
        {{- with .Values.image.commitTime }}
        - name: GIT_COMMIT_TIME
          value: {{ . | quote }}
        {{- end }}
        {{- with .Values.tracing.otlpEndpoint }}
        - name: OTEL_EXPORTER_OTLP_ENDPOINT
          value: {{ . | quote }}
        - name: OTEL_TRACES_SAMPLER_ARG
          value: {{ $.Values.tracing.samplingRatio | quote }}
        - name: TRACE_RATE_LIMIT
          value: {{ $.Values.tracing.rateLimit | int64 | quote }}
        {{- end }}
        - name: LOG_LEVEL
          value: {{ $app.logLevel | quote }}
        - name: SHUTDOWN_TIMEOUT_MS
          value: {{ $app.shutdownTimeoutMs | int64 | quote }}
        - name: DRAIN_DELAY_MS
          value: {{ $app.drainDelayMs | int64 | quote }}
        {{- if .Values.externalSecret.enabled }}
        # Required: the pod waits for the ExternalSecret to sync rather than run without its token.
        - name: API_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ include "demo-app.secretName" . }}
              key: api-token
        {{- end }}
        {{- range $app.extraEnv }}
        - name: {{ .name }}
          value: {{ .value | quote }}
        {{- end }}
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        readOnlyRootFilesystem: true
        allowPrivilegeEscalation: false
        privileged: false
        capabilities:
          drop:
            - ALL
        seccompProfile:
          type: RuntimeDefault
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      {{- if $probes.startup.enabled }}
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: {{ $probes.startup.periodSeconds }}
        timeoutSeconds: {{ $probes.startup.timeoutSeconds }}
        failureThreshold: {{ $probes.startup.failureThreshold }}
      {{- end }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        {{- with $probes.liveness }}
        initialDelaySeconds: {{ .initialDelaySeconds | default 0 }}
        periodSeconds: {{ .periodSeconds }}
        timeoutSeconds: {{ .timeoutSeconds }}
        failureThreshold: {{ .failureThreshold }}
        {{- end }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        {{- with $probes.readiness }}
        initialDelaySeconds: {{ .initialDelaySeconds | default 0 }}
        periodSeconds: {{ .periodSeconds }}
        timeoutSeconds: {{ .timeoutSeconds }}
        failureThreshold: {{ .failureThreshold }}
        {{- end }}
      volumeMounts:
        # The root filesystem is read-only; /tmp is the one writable place.
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
  {{- if .Values.topologySpread.enabled }}
  topologySpreadConstraints:
    {{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
    - topologyKey: {{ . }}
      maxSkew: {{ $.Values.topologySpread.maxSkew }}
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "demo-app.selectorLabels" $ | nindent 10 }}
      matchLabelKeys:
        - {{ include "demo-app.templateHashLabel" $ }}
    {{- end }}
  {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
The label that tells revisions apart, set by the workload's controller: pod-template-hash (Deployment)
or rollouts-pod-template-hash (Rollout). Topology spread counts the pods of one revision only.
*/}}
{{- define "demo-app.templateHashLabel" -}}
{{- if .Values.rollout.enabled }}rollouts-pod-template-hash{{ else }}pod-template-hash{{ end }}
{{- end }}
