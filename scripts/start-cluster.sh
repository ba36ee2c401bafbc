#!/usr/bin/env bash
# Starts a standalone session cluster: the JobManager here, a TaskManager on every host in
# conf/workers (localhost started directly, other hosts over ssh).
set -euo pipefail
. "$(dirname "$0")/strato-env.sh"

echo "Starting cluster."
"$SCRIPTS_DIR/jobmanager.sh" start
for worker in $(read_workers); do
    if is_local_host "$worker"; then
        "$SCRIPTS_DIR/taskmanager.sh" start
    else
        ssh -n "$worker" -- "nohup /bin/bash -l \"$SCRIPTS_DIR/taskmanager.sh\" start &"
    fi
done
