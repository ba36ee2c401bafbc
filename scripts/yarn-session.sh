#!/usr/bin/env bash
# Starts (or attaches to, with -id) a Strato session cluster on YARN (Flink's yarn-session.sh).
#   yarn-session.sh [-d] [-jm <mem>] [-tm <mem>] [-s <slots>] [-nm <name>] [-qu <queue>]
#                   [-at <type>] [-nl <label>] [-t <ship dir>] [-id <appId>] [-q] [-z <ns>]
#                   [-D key=value ...]
# The YARN cluster comes from YARN_CONF_DIR / HADOOP_CONF_DIR / HADOOP_HOME/etc/hadoop.
# Attached (default) it waits for 'stop' on stdin or Ctrl-C; `echo stop | yarn-session.sh -id
# <appId>` stops a detached session.
set -euo pipefail
# shellcheck source=strato-env.sh
. "$(dirname "$0")/strato-env.sh"
exec "$STRATO_BIN" yarn-session "$@"
