#!/usr/bin/env bash
# Starts and stops one kind of Strato daemon on this host, as Flink's flink-daemon.sh does:
#   strato-daemon.sh (start|start-foreground|stop|stop-all) (standalonesession|standalonejob|taskexecutor) [-D key=value ...]
# Pid file: $STRATO_PID_DIR/strato-$USER-<daemon>.pid (one line per running instance).
# Logs:     $STRATO_LOG_DIR/strato-$USER-<daemon>-<n>-<host>.log, print output in the .out file.
# Environment: STRATO_BIN (the strato binary), STRATO_CONF_DIR, STRATO_LOG_DIR, STRATO_PID_DIR.
set -euo pipefail
. "$(dirname "$0")/strato-env.sh"

USAGE="Usage: strato-daemon.sh (start|start-foreground|stop|stop-all) (standalonesession|standalonejob|taskexecutor) [args]"
STARTSTOP=${1:?$USAGE}
DAEMON=${2:?$USAGE}
shift 2

case $DAEMON in
    standalonesession) ROLE=jobmanager ;;
    standalonejob) ROLE=standalone-job ;;
    taskexecutor) ROLE=taskmanager ;;
    *) echo "Unknown daemon '$DAEMON'. $USAGE" >&2; exit 1 ;;
esac

HOST=$(hostname)
PID_FILE="$STRATO_PID_DIR/strato-$STRATO_IDENT_STRING-$DAEMON.pid"
mkdir -p "$STRATO_PID_DIR" "$STRATO_LOG_DIR"

# Waits up to 10 s for a stopped daemon to exit, then kills it, so nothing is left behind.
wait_for_exit() {
    local pid=$1
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    echo "$DAEMON daemon (pid: $pid) did not stop within 10 seconds; killing it."
    kill -9 "$pid" 2>/dev/null || true
}

stop_pid() {
    local pid=$1
    if kill -0 "$pid" 2>/dev/null; then
        echo "Stopping $DAEMON daemon (pid: $pid) on host $HOST."
        kill "$pid"
        wait_for_exit "$pid"
    else
        echo "No $DAEMON daemon (pid: $pid) is running anymore on $HOST."
    fi
}

case $STARTSTOP in
    start)
        ID=0
        if [ -f "$PID_FILE" ]; then
            ID=$(grep -c . "$PID_FILE" || true)
            [ "$ID" -gt 0 ] && echo "[INFO] $ID instance(s) of $DAEMON are already running on $HOST."
        fi
        LOG="$STRATO_LOG_DIR/strato-$STRATO_IDENT_STRING-$DAEMON-$ID-$HOST.log"
        OUT="$STRATO_LOG_DIR/strato-$STRATO_IDENT_STRING-$DAEMON-$ID-$HOST.out"
        echo "Starting $DAEMON daemon on host $HOST."
        STRATO_LOG_FILE="$LOG" nohup "$STRATO_BIN" "$ROLE" "$@" > "$OUT" 2>&1 < /dev/null &
        PID=$!
        sleep 0.2
        if kill -0 "$PID" 2>/dev/null; then
            echo "$PID" >> "$PID_FILE"
        else
            echo "Error starting $DAEMON daemon; see $OUT." >&2
            exit 1
        fi
        ;;
    start-foreground)
        exec "$STRATO_BIN" "$ROLE" "$@"
        ;;
    stop)
        if [ ! -f "$PID_FILE" ]; then
            echo "No $DAEMON daemon to stop on host $HOST."
            exit 0
        fi
        TO_STOP=$(tail -n 1 "$PID_FILE")
        sed '$d' "$PID_FILE" > "$PID_FILE.tmp"
        if [ -s "$PID_FILE.tmp" ]; then mv "$PID_FILE.tmp" "$PID_FILE"; else rm -f "$PID_FILE" "$PID_FILE.tmp"; fi
        if [ -z "$TO_STOP" ]; then
            echo "No $DAEMON daemon to stop on host $HOST."
        else
            stop_pid "$TO_STOP"
        fi
        ;;
    stop-all)
        if [ -f "$PID_FILE" ]; then
            mv "$PID_FILE" "$PID_FILE.tmp"
            while read -r TO_STOP; do
                [ -n "$TO_STOP" ] && stop_pid "$TO_STOP"
            done < "$PID_FILE.tmp"
            rm -f "$PID_FILE.tmp"
        fi
        ;;
    *)
        echo "$USAGE" >&2
        exit 1
        ;;
esac
