{{/* The chart's name, and the release's full name: RELEASE-wfsh, or the
release's name alone when it holds "wfsh" already (release wfsh: wfsh). */}}
{{- define "wfsh.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wfsh.fullname" -}}
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

{{- define "wfsh.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "wfsh.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "wfsh.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wfsh.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wfsh.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The server's URL inside the cluster, from any namespace. */}}
{{- define "wfsh.serverURL" -}}
{{- printf "http://%s.%s.svc:%d" (include "wfsh.fullname" .) .Release.Namespace (int .Values.server.service.port) -}}
{{- end -}}

{{- define "wfsh.authSecret" -}}
{{- default (printf "%s-auth" (include "wfsh.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "wfsh.poolsSecret" -}}
{{- printf "%s-pools" (include "wfsh.fullname" .) -}}
{{- end -}}

{{- define "wfsh.pgSecret" -}}
{{- default (printf "%s-postgresql" (include "wfsh.fullname" .)) .Values.database.postgresql.existingSecret -}}
{{- end -}}

{{- define "wfsh.pgHost" -}}
{{- printf "%s-postgresql" (include "wfsh.fullname" .) -}}
{{- end -}}

{{/* The environment that gives the database: WFSH_DB, from a Secret. */}}
{{- define "wfsh.dbEnv" -}}
{{- if eq .Values.database.type "postgresql" }}
- name: WFSH_PG_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "wfsh.pgSecret" . }}, key: password}
- name: WFSH_DB
  value: {{ printf "postgres://%s:$(WFSH_PG_PASSWORD)@%s:5432/%s?sslmode=disable" .Values.database.postgresql.username (include "wfsh.pgHost" .) .Values.database.postgresql.database | quote }}
{{- else if eq .Values.database.type "external" }}
- name: WFSH_DB
  valueFrom:
    secretKeyRef: {name: {{ required "database.external.existingSecret: the Secret holding the postgres:// URL" .Values.database.external.existingSecret }}, key: {{ .Values.database.external.key }}}
{{- else }}
- name: WFSH_DB
  value: /var/lib/wfsh/server.db
{{- end }}
{{- end -}}

{{/* A container's security context: non-root, read-only root. */}}
{{- define "wfsh.securityContext" -}}
{{ toYaml .Values.securityContext }}
{{- end -}}

{{/* The migration container (init container and hook Job). */}}
{{- define "wfsh.migrateContainer" -}}
- name: migrate
  image: {{ include "wfsh.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: [server, migrate, --db, $(WFSH_DB), --wait, {{ .Values.database.migration.wait | quote }}]
  env:
  - name: WFSH_HOME
    value: /var/lib/wfsh
  {{- include "wfsh.dbEnv" . | nindent 2 }}
  securityContext:
    {{- include "wfsh.securityContext" . | nindent 4 }}
  volumeMounts:
  - {name: home, mountPath: /var/lib/wfsh}
  - {name: tmp, mountPath: /tmp}
{{- end -}}

{{/* The base Job template of worker $w (a dict: root, w). */}}
{{- define "wfsh.jobTemplate" -}}
{{- $root := .root -}}
{{- $w := .w -}}
{{- $t := mustMergeOverwrite (deepCopy $root.Values.worker.jobTemplate) (deepCopy (default dict $w.jobTemplate)) -}}
{{- $meta := default dict $t.metadata -}}
{{- $_ := set $meta "namespace" (default $root.Release.Namespace $w.namespace) -}}
{{- $_ = set $t "metadata" $meta -}}
{{- $_ = set $t "apiVersion" "batch/v1" -}}
{{- $_ = set $t "kind" "Job" -}}
{{- $spec := default dict $t.spec -}}
{{- $tmpl := default dict $spec.template -}}
{{- $pod := default dict $tmpl.spec -}}
{{- $cs := default list $pod.containers -}}
{{- if not $cs -}}
{{- $cs = list (dict "name" "wfsh") -}}
{{- end -}}
{{- $main := first $cs -}}
{{- range $cs -}}
{{- if eq (toString .name) "wfsh" -}}{{- $main = . -}}{{- end -}}
{{- end -}}
{{- if not $main.image -}}
{{- $_ = set $main "image" (include "wfsh.image" $root) -}}
{{- end -}}
{{- if and $root.Values.imagePullSecrets (not $pod.imagePullSecrets) -}}
{{- $_ = set $pod "imagePullSecrets" $root.Values.imagePullSecrets -}}
{{- end -}}
{{- $_ = set $pod "containers" $cs -}}
{{- $_ = set $tmpl "spec" $pod -}}
{{- $_ = set $spec "template" $tmpl -}}
{{- $_ = set $t "spec" $spec -}}
{{- toYaml $t -}}
{{- end -}}

{{/* Names of worker $w's objects: FULLNAME-worker-POOL. */}}
{{- define "wfsh.workerName" -}}
{{- printf "%s-worker-%s" (include "wfsh.fullname" .root) .w.pool | trunc 63 | trimSuffix "-" -}}
{{- end -}}
