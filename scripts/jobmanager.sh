#!/usr/bin/env bash
# Starts or stops the JobManager of a standalone session cluster (Flink's jobmanager.sh).
#   jobmanager.sh (start|start-foreground|stop|stop-all) [-D key=value ...]
set -euo pipefail
ACTION=${1:?"Usage: jobmanager.sh (start|start-foreground|stop|stop-all) [args]"}
shift
exec "$(dirname "$0")/strato-daemon.sh" "$ACTION" standalonesession "$@"
