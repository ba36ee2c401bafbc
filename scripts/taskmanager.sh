#!/usr/bin/env bash
# Starts or stops a TaskManager (Flink's taskmanager.sh).
#   taskmanager.sh (start|start-foreground|stop|stop-all) [-D key=value ...]
set -euo pipefail
ACTION=${1:?"Usage: taskmanager.sh (start|start-foreground|stop|stop-all) [args]"}
shift
exec "$(dirname "$0")/strato-daemon.sh" "$ACTION" taskexecutor "$@"
