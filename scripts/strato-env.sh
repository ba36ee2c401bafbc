# Shared settings of the cluster scripts (sourced, not run).
SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STRATO_HOME=${STRATO_HOME:-$(cd "$SCRIPTS_DIR/.." && pwd)}
if [ -z "${STRATO_BIN:-}" ]; then
    for candidate in "$STRATO_HOME/bin/strato" "$STRATO_HOME/target/release/strato" "$STRATO_HOME/target/debug/strato"; do
        if [ -x "$candidate" ]; then STRATO_BIN=$candidate; break; fi
    done
    STRATO_BIN=${STRATO_BIN:-$(command -v strato || true)}
fi
if [ -z "$STRATO_BIN" ]; then
    echo "Cannot find the strato binary: build it (cargo build --release) or set STRATO_BIN." >&2
    exit 1
fi
export STRATO_CONF_DIR=${STRATO_CONF_DIR:-$STRATO_HOME/conf}
STRATO_LOG_DIR=${STRATO_LOG_DIR:-$STRATO_HOME/log}
STRATO_PID_DIR=${STRATO_PID_DIR:-/tmp}
STRATO_IDENT_STRING=${STRATO_IDENT_STRING:-${USER:-$(id -un)}}

# The hosts in conf/workers (comments and blank lines skipped).
read_workers() {
    local file="$STRATO_CONF_DIR/workers"
    if [ ! -f "$file" ]; then
        echo "localhost"
        return
    fi
    sed -e 's/#.*//' -e 's/[[:space:]]//g' "$file" | grep -v '^$' || true
}

is_local_host() {
    case $1 in
        localhost|127.0.0.1|"$(hostname)"|"$(hostname -f 2>/dev/null)") return 0 ;;
        *) return 1 ;;
    esac
}
