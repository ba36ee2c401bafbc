#!/usr/bin/env bash
# Starts or stops a JobManager in application mode (Flink's standalone-job.sh): it runs one
# program's main itself and ends when that job ends. Start TaskManagers with taskmanager.sh.
#   standalone-job.sh (start|start-foreground|stop|stop-all) --program <binary> [-s <savepoint>] [-n] [-D key=value ...] [program args]
set -euo pipefail
ACTION=${1:?"Usage: standalone-job.sh (start|start-foreground|stop|stop-all) --program <binary> [-D key=value ...] [program args]"}
shift
exec "$(dirname "$0")/strato-daemon.sh" "$ACTION" standalonejob "$@"
