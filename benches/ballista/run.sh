#!/usr/bin/env bash
# INSERT INTO zerobus.main.default.bench SELECT * FROM '<dir>/*.parquet': one zerobus-sql
# process against a Ballista cluster of one and of two executors (zerobus-ballista-*),
# all on this machine, against one emulator that holds each stream to a quota.
#
#   cargo build --release --features ballista --bins
#   ./benches/ballista/run.sh        # ROWS=2000000 FILES=8 QUOTA=20000 TASKS=4 by default
#
# The emulator runs with --discard (it checks and acknowledges at the quota's pace and
# writes nothing), so the figures are the clients'. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/../.."

rows="${ROWS:-2000000}"
files="${FILES:-8}"
quota="${QUOTA:-20000}"
# Task slots per executor (Ballista's default is the cores, 2 here; a write task mostly
# waits on the stream quota).
tasks="${TASKS:-4}"
bin="${CARGO_TARGET_DIR:-target}/release"
for b in zerobus-emulator zerobus-sql zerobus-ballista-scheduler zerobus-ballista-executor; do
  [ -x "$bin/$b" ] || { echo "missing $bin/$b: cargo build --release --features ballista --bins" >&2; exit 1; }
done

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  exit 1
}
# CPU seconds (user + system) of the processes $@ so far.
cpu_of() {
  local t=0
  [ "$#" -eq 0 ] && { echo 0; return; }
  for p in "$@"; do
    t=$(awk -v t="$t" '{ print t + ($14 + $15) / 100 }' "/proc/$p/stat")
  done
  echo "$t"
}

table=main.default.bench
grpc=$(free_port)
http=$(free_port)
"$bin/zerobus-emulator" --warehouse "$work/warehouse" --discard \
  --grpc-addr "127.0.0.1:$grpc" --http-addr "127.0.0.1:$http" \
  --client-secret bench-secret --stream-max-records-per-sec "$quota" \
  --table "$table:id BIGINT NOT NULL, body STRING, v DOUBLE" > "$work/emulator.log" 2>&1 &
pids+=($!)
wait_port "$grpc"
wait_port "$http"
export ZEROBUS_ENDPOINT="http://127.0.0.1:$grpc" DATABRICKS_HOST="http://127.0.0.1:$http"
export DATABRICKS_CLIENT_ID=local DATABRICKS_CLIENT_SECRET=bench-secret

mkdir -p "$work/input"
per=$((rows / files))
copies=()
for f in $(seq 0 $((files - 1))); do
  copies+=(-c "COPY (SELECT CAST(value AS BIGINT) AS id, concat('body-', CAST(value AS VARCHAR)) AS body, CAST(value AS DOUBLE) / 7 AS v FROM generate_series($((f * per)), $(((f + 1) * per - 1)))) TO '$work/input/part-$f.parquet' STORED AS PARQUET")
done
"$bin/zerobus-sql" -q --format csv "${copies[@]}" > /dev/null
insert="INSERT INTO zerobus.$table SELECT * FROM '$work/input/*.parquet'"
setting="SET datafusion.execution.target_partitions = $files"

streams_opened() {
  curl -s "http://127.0.0.1:$http/zerobus-emulator/v1/stats" |
    python3 -c "import json,sys; print(json.load(sys.stdin)['tables'].get('$table', {}).get('streams_opened', 0))"
}

results=()
# run LABEL CPU_PIDS... -- COMMAND...: time the command, count the streams it opened.
run() {
  local label="$1"; shift
  local cpu_pids=()
  while [ "$1" != "--" ]; do cpu_pids+=("$1"); shift; done
  shift
  local before_streams before_cpu start end out
  before_streams=$(streams_opened)
  before_cpu=$(cpu_of "${cpu_pids[@]}")
  start=$(date +%s.%N)
  if [ -x /usr/bin/time ]; then
    out=$(/usr/bin/time -f '%U %S' -o "$work/client.cpu" "$@" 2>"$work/client.err") ||
      { cat "$work/client.err" >&2; exit 1; }
  else
    echo "0 0" > "$work/client.cpu"
    out=$("$@" 2>"$work/client.err") || { cat "$work/client.err" >&2; exit 1; }
  fi
  end=$(date +%s.%N)
  echo "$out" | grep -qx "$rows" || { echo "$label: the INSERT did not answer $rows: $out" >&2; exit 1; }
  local streams cpu
  streams=$(( $(streams_opened) - before_streams ))
  # The client's CPU seconds and the executors' (the emulator's are not counted).
  cpu=$(awk -v a="$before_cpu" -v b="$(cpu_of "${cpu_pids[@]}")" -v c="$(awk '{ print $1 + $2 }' "$work/client.cpu")" \
    'BEGIN { print b - a + c }')
  results+=("$(awk -v l="$label" -v r="$rows" -v s="$start" -v e="$end" -v st="$streams" -v q="$quota" -v c="$cpu" \
    'BEGIN { t = e - s; printf "| %s | %.2f | %d | %d | %.2f | %s |", l, t, r / t, st, (r / t) / (st * q), sprintf("%.2f", c / (r / 1e6)) }')")
}

# 1. One process: zerobus-sql with the query's partitions writing in parallel.
run "one process (\`zerobus-sql\`), $files partitions" -- \
  "$bin/zerobus-sql" -q --format csv -c "$setting" -c "$insert"

# 1b. The same process with as many streams as the two-executor cluster may open.
run "one process, $files partitions, max_streams 64" -- \
  "$bin/zerobus-sql" -q --format csv --max-streams 64 -c "$setting" -c "$insert"

# 2-3. A scheduler and N executors, the same statement through zerobus-sql --ballista.
for n in 1 2; do
  sport=$(free_port)
  "$bin/zerobus-ballista-scheduler" --bind-host 127.0.0.1 --external-host 127.0.0.1 \
    --bind-port "$sport" > "$work/scheduler-$n.log" 2>&1 &
  sched=$!
  pids+=("$sched")
  wait_port "$sport"
  execs=()
  for i in $(seq 1 "$n"); do
    fport=$(free_port); gport=$(free_port); hport=$(free_port)
    mkdir -p "$work/exec-$n-$i"
    "$bin/zerobus-ballista-executor" --scheduler-host 127.0.0.1 --scheduler-port "$sport" \
      --bind-host 127.0.0.1 --external-host 127.0.0.1 --bind-port "$fport" \
      --bind-grpc-port "$gport" --bind-health-port "$hport" --work-dir "$work/exec-$n-$i" \
      --concurrent-tasks "$tasks" \
      > "$work/executor-$n-$i.log" 2>&1 &
    execs+=($!)
    pids+=($!)
    wait_port "$fport"
  done
  for _ in $(seq 1 300); do
    [ "$(grep -c 'register executor request' "$work/scheduler-$n.log")" -ge "$n" ] && break
    sleep 0.1
  done
  run "Ballista, $n executor$([ "$n" = 1 ] || echo s), $files partitions" "${execs[@]}" -- \
    "$bin/zerobus-sql" -q --format csv --ballista "df://127.0.0.1:$sport" -c "$setting" -c "$insert"
  for p in "${execs[@]}" "$sched"; do kill "$p" 2>/dev/null || true; done
done

echo
echo "Machine: $(nproc) cores, $(uname -sr). Date: $(date -u '+%Y-%m-%d %H:%M UTC'). Command: ROWS=$rows FILES=$files QUOTA=$quota TASKS=$tasks ./benches/ballista/run.sh"
echo
echo "| contender | seconds | rows/s | streams opened | of streams × quota | CPU s per 1M rows (client + executors) |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${results[@]}"
