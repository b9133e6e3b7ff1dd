{{/* Names: <release>-<chart> cut to 63 characters, unless overridden. */}}
{{- define "triton-ocr.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "triton-ocr.fullname" -}}
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

{{/* Per-component names; the suffix stays even when the release name is long. */}}
{{- define "triton-ocr.triton.fullname" -}}
{{- printf "%s-triton" (include "triton-ocr.fullname" . | trunc 56 | trimSuffix "-") }}
{{- end }}

{{- define "triton-ocr.gateway.fullname" -}}
{{- printf "%s-gateway" (include "triton-ocr.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{- define "triton-ocr.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "triton-ocr.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Labels. Call the component ones with (dict "ctx" $ "component" "triton"|"gateway"). */}}
{{- define "triton-ocr.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "triton-ocr.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: triton-ocr
{{- end }}

{{- define "triton-ocr.selectorLabels" -}}
app.kubernetes.io/name: {{ include "triton-ocr.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "triton-ocr.componentLabels" -}}
{{ include "triton-ocr.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Images. */}}
{{- define "triton-ocr.triton.image" -}}
{{- printf "%s:%s-py3" .Values.triton.image.repository .Values.triton.image.version }}
{{- end }}

{{- define "triton-ocr.modelImage" -}}
{{- printf "%s:%s" .Values.modelImage.repository (default (printf "%s-%s" .Chart.AppVersion .Values.profile) .Values.modelImage.tag) }}
{{- end }}

{{- define "triton-ocr.gateway.image" -}}
{{- printf "%s:%s" .Values.gateway.image.repository (default .Chart.AppVersion .Values.gateway.image.tag) }}
{{- end }}

{{/* Where Triton reads the model repository (tritonserver --model-repository). */}}
{{- define "triton-ocr.triton.modelRepository" -}}
{{- $source := .Values.modelRepository.source }}
{{- if eq $source "image" }}/opt/triton-ocr/model_repository
{{- else if eq $source "pvc" }}{{ trimSuffix "/" (printf "/models/%s" (trimPrefix "/" .Values.modelRepository.pvc.path)) }}
{{- else if eq $source "s3" }}{{ .Values.modelRepository.s3.url }}
{{- else }}{{ .Values.modelRepository.gcs.url }}
{{- end }}
{{- end }}

{{/* Triton's HPA metric: queueTime or cpu (auto = queueTime where a custom metrics API is served). */}}
{{- define "triton-ocr.triton.scalingMetric" -}}
{{- $metric := .Values.triton.autoscaling.metric }}
{{- if eq $metric "auto" }}
{{- ternary "queueTime" "cpu" (.Capabilities.APIVersions.Has "custom.metrics.k8s.io/v1beta1") }}
{{- else }}
{{- $metric }}
{{- end }}
{{- end }}

{{/* The gateway's gRPC address of Triton (same namespace). */}}
{{- define "triton-ocr.triton.url" -}}
{{- printf "grpc://%s:%d" (include "triton-ocr.triton.fullname" .) (int .Values.triton.ports.grpc) }}
{{- end }}

{{/* A PodDisruptionBudget spec body from a {minAvailable|maxUnavailable} block. */}}
{{- define "triton-ocr.pdbSpec" -}}
{{- if hasKey . "minAvailable" -}}
minAvailable: {{ .minAvailable }}
{{- else -}}
maxUnavailable: {{ .maxUnavailable }}
{{- end }}
{{- end }}

{{/* Triton's readiness and liveness check: a real inference through every entry (triton_ocr.serving.server.readiness,
     in the model image's environment): the exec command as a YAML list. */}}
{{- define "triton-ocr.triton.inferenceProbe" -}}
{{- list "/opt/triton-ocr/venv/bin/python" "-m" "triton_ocr.serving.server.readiness" "--url" (printf "127.0.0.1:%d" (int .Values.triton.ports.grpc)) "--timeout" "10" | toYaml }}
{{- end }}

{{/* Triton's entrypoint: the packed environment first on PATH (the python stub's interpreter), and every API but
inference, health and metadata (serving.server.launcher.RESTRICTED_APIS) behind the header triton-ocr-admin-key,
on HTTP and gRPC, with $TRITON_OCR_ADMIN_KEY (adminKeySecret) or else a key drawn at start. */}}
{{- define "triton-ocr.triton.entrypoint" -}}
{{- $apis := "shared-memory,model-config,model-repository,statistics,trace,logging" }}
{{- $script := printf "key=\"${TRITON_OCR_ADMIN_KEY:-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \\n')}\"; unset TRITON_OCR_ADMIN_KEY; PATH=/opt/triton-ocr/venv/bin:$PATH exec tritonserver \"$@\" \"--http-restricted-api=%s:triton-ocr-admin-key=$key\" \"--grpc-restricted-protocol=%s:triton-ocr-admin-key=$key\"" $apis $apis }}
{{- list "/bin/sh" "-c" $script "tritonserver" | toYaml }}
{{- end }}
