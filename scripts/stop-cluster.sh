#!/usr/bin/env bash
# Stops the TaskManagers on the hosts in conf/workers, then the JobManager.
set -euo pipefail
. "$(dirname "$0")/strato-env.sh"

for worker in $(read_workers); do
    if is_local_host "$worker"; then
        "$SCRIPTS_DIR/taskmanager.sh" stop
    else
        ssh -n "$worker" -- "nohup /bin/bash -l \"$SCRIPTS_DIR/taskmanager.sh\" stop &"
    fi
done
"$SCRIPTS_DIR/jobmanager.sh" stop
