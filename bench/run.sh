#!/usr/bin/env bash
# Ingest benchmark: a durable collector (release build) and the replay load generator on this
# machine. Usage: bench/run.sh [scenario...]   scenarios: 1000 10 100000 halfload stored10m bundle
# Each scenario starts a fresh data folder under $BENCH_DIR (default /tmp/agenttrail-bench),
# prints the replay's JSON line, and stops the server. Bounded: each replay has --timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
TRAIL=.build/release/trail
DIR=${BENCH_DIR:-/tmp/agenttrail-bench}
PORT=${BENCH_PORT:-7711}
HTTP=127.0.0.1:$((PORT + 1))
CONNS=${BENCH_CONNECTIONS:-64}
mkdir -p "$DIR"
[ -x "$TRAIL" ] || swift build -c release --product trail

corpus() { # agents entries name [seed]
  local f="$DIR/$3.bin"
  [ -f "$f" ] || "$TRAIL" bench gen --agents "$1" --entries "$2" --out "$f" --seed "${4:-agenttrail-bench}" >&2
  echo "$f"
}

serve() { # data-dir
  "$TRAIL" serve --data "$1" --listen 127.0.0.1:$PORT --http $HTTP --log-level warning >"$DIR/serve.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && return; sleep 0.1; done
  echo "server did not start" >&2; exit 1
}

stop() { kill "$SERVER"; wait "$SERVER" || true; }

replay() { # corpus label
  local out
  out=$("$TRAIL" bench replay "$1" --server 127.0.0.1:$PORT --connections "$CONNS" --server-pid "$SERVER" --json --timeout 900)
  echo "{\"scenario\":\"$2\",\"result\":$out}"
}

run() { # agents entries label
  local c; c=$(corpus "$1" "$2" "a$1-e$2")
  rm -rf "$DIR/data"; serve "$DIR/data"
  replay "$c" "$3"
  du -sb "$DIR/data/data.mdb" | awk -v n="$2" -v raw="$(stat -c %s "$c")" \
    '{printf "{\"scenario\":\"disk\",\"bytes_per_entry\":%.1f,\"raw_bytes_per_entry\":%.1f}\n", $1/n, (raw-20)/n - 4}'
  stop
}

for s in "${@:-1000}"; do
  case "$s" in
    1000) run 1000 1000000 "1000 agents, 1M entries, durable" ;;
    10) run 10 1000000 "10 agents, 1M entries, durable" ;;
    100000) run 100000 1000000 "100,000 agents, 1M entries, durable" ;;
    halfload)
      # Ack latency at about half the Ed25519 limit (target rate from `trail bench limit`).
      c=$(corpus 1000 1000000 "a1000-e1000000")
      limit=$("$TRAIL" bench limit --seconds 2 | awk '{print int($1)}')
      rm -rf "$DIR/data"; serve "$DIR/data"
      out=$("$TRAIL" bench replay "$c" --server 127.0.0.1:$PORT --connections "$CONNS" --batch 16 --window 2 \
        --rate $((limit / 2)) --server-pid "$SERVER" --json --timeout 20)
      echo "{\"scenario\":\"half load: --rate $((limit / 2)) for 20 s\",\"result\":$out}"
      stop ;;
    stored10m)
      pre=$(corpus 1000 10000000 "a1000-e10m" preload)
      c=$(corpus 1000 1000000 "a1000-e1000000")
      rm -rf "$DIR/data"; serve "$DIR/data"
      replay "$pre" "preload 10M entries"
      replay "$c" "1000 agents, 1M entries, on top of 10M stored"
      stop ;;
    bundle)
      # Offline verification of one agent's 100k-entry chain exported from a 1M-entry log.
      c=$(corpus 10 1000000 "a10-e1000000")
      rm -rf "$DIR/data"; serve "$DIR/data"
      replay "$c" "10 agents, 1M entries (log for the bundle)"
      did=$("$TRAIL" bench agent --index 0)
      "$TRAIL" node key --data "$DIR/data" >"$DIR/log.pub"
      echo "{\"scenario\":\"export\",\"result\":$("$TRAIL" export "$did" --http "http://$HTTP" --out "$DIR/a0.bundle" --json)}"
      stop
      out=$("$TRAIL" bench verify "$DIR/a0.bundle" --log-key "$DIR/log.pub" --json)
      echo "{\"scenario\":\"offline verify, 100k-entry bundle\",\"result\":$out}" ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
  esac
done
