#!/usr/bin/env bash
# Cluster benchmark (run by hand, not a test): starts 1 JobManager + 2 TaskManagers (1 slot
# each) on 127.0.0.1 and prints
#   - the idle TaskManager's resident set,
#   - submission to RUNNING (client start to every subtask RUNNING), cold and warm program cache,
#   - word count at parallelism 2 on the cluster against the embedded executor.
#   scripts/bench-cluster.sh [corpus-file]     (default: generates a 50 MB corpus)
# Needs a release build (cargo build --release --bin strato --examples), curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/strato
WC=$PWD/target/release/examples/word_count
SWC=$PWD/target/release/examples/streaming_word_count
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 1' INT TERM

CORPUS=${1:-$WORK/corpus.txt}
if [ ! -f "$CORPUS" ]; then
    python3 - "$CORPUS" <<'PY'
import itertools, random, sys
random.seed(7)
words = ["".join(random.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(random.randint(2, 9))) for _ in range(50000)]
cum = list(itertools.accumulate(1.0 / (i + 1) for i in range(len(words))))
with open(sys.argv[1], "w") as f:
    size = 0
    while size < 50_000_000:
        block = "\n".join(" ".join(random.choices(words, cum_weights=cum, k=12)) for _ in range(10000)) + "\n"
        f.write(block); size += len(block)
PY
fi

now_ms() { date +%s%3N; }
$BIN jobmanager -Djobmanager.rpc.address=127.0.0.1 -Djobmanager.rpc.port=0 -Drest.port=0 \
    -Drest.address=127.0.0.1 -Dio.tmp.dirs="$WORK" > "$WORK/jm.out" 2> "$WORK/jm.log" &
PIDS+=($!)
until grep -qs "Rest endpoint" "$WORK/jm.out"; do sleep 0.05; done
RPC_PORT=$(grep "RPC endpoint" "$WORK/jm.out" | sed 's/.*://')
REST=$(grep "Rest endpoint" "$WORK/jm.out" | awk '{print $NF}')
for i in 1 2; do
    $BIN taskmanager -Djobmanager.rpc.address=127.0.0.1 -Djobmanager.rpc.port="$RPC_PORT" \
        -Dtaskmanager.host=127.0.0.1 -Dio.tmp.dirs="$WORK" > "$WORK/tm$i.out" 2> "$WORK/tm$i.log" &
    PIDS+=($!)
done
TM_PID=${PIDS[1]}
until curl -s "http://$REST/overview" | grep -q '"taskmanagers":2'; do sleep 0.05; done
sleep 1
echo "idle TaskManager RSS: $(grep VmRSS /proc/$TM_PID/status | awk '{print $2/1024 " MB"}')"

python3 -c "import socket,time
s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(8); print(s.getsockname()[1], flush=True)
held=[]
while True: held.append(s.accept()[0])" > "$WORK/port" &
PIDS+=($!)
until [ -s "$WORK/port" ]; do sleep 0.05; done
PORT=$(cat "$WORK/port")

all_running() {
    curl -s "http://$REST/jobs/$1" | python3 -c "import json,sys
j=json.load(sys.stdin); sys.exit(0 if j['state']=='RUNNING' and all(v['status']=='RUNNING' for v in j['vertices']) else 1)"
}
for round in cold warm; do
    start=$(now_ms)
    id=$($BIN run -d -m "$REST" -p 2 "$SWC" --hostname 127.0.0.1 --port "$PORT" | sed -n 's/Job has been submitted with JobID //p')
    submitted=$(now_ms)
    until all_running "$id"; do sleep 0.005; done
    running=$(now_ms)
    status_running=$(curl -s "http://$REST/jobs/$id" | python3 -c "import json,sys
j=json.load(sys.stdin); print(j['timestamps']['RUNNING'] - j['start-time'])")
    echo "submission to RUNNING ($round cache): job status RUNNING ${status_running} ms after the JobManager accepted it; every subtask RUNNING $((running - submitted)) ms after the client returned ($((running - start)) ms from client start, incl. plan run and upload)"
    $BIN cancel -m "$REST" "$id" > /dev/null
done

# Upper bound of submission to RUNNING as the JobManager sees it: a tiny job's whole life
# (accepted, workers started, deployed, run, finished), with the program cached.
$BIN run -m "$REST" -p 2 "$WC" > /dev/null 2>&1   # caches the program on the TaskManagers
tiny=$($BIN run -m "$REST" -p 2 "$WC" 2> /dev/null | sed -n 's/Job Runtime: //p')
echo "tiny word count on the cluster, accepted to FINISHED (warm cache): $tiny"

for target in "-t local" "-m $REST"; do
    rm -rf "$WORK/out"
    start=$(now_ms)
    $BIN run $target -p 2 "$WC" --input "$CORPUS" --output "$WORK/out" --execution-mode BATCH > /dev/null
    echo "word count ($(du -m "$CORPUS" | cut -f1) MB, p=2, BATCH) with $target: $(( $(now_ms) - start )) ms"
done
