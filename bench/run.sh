#!/usr/bin/env bash
# Ingest benchmark: a durable collector (release build) and the replay load generator on this
# machine. Usage: bench/run.sh [scenario...]
#   scenarios: 1000 10 100000 governed hostile halfload stored10m bundle   (default: 1000)
# Each scenario starts a fresh data folder under $BENCH_DIR (default /tmp/agenttrail-bench),
# prints one JSON line per result, and stops the server. Bounded: every replay has --timeout
# (and a watchdog 60 s past it), and every step runs under `timeout`.
set -euo pipefail
cd "$(dirname "$0")/.."
TRAIL=.build/release/trail
DIR=${BENCH_DIR:-/tmp/agenttrail-bench}
PORT=${BENCH_PORT:-7711}
HTTP=127.0.0.1:$((PORT + 1))
CONNS=${BENCH_CONNECTIONS:-64}
REPLAY_TIMEOUT=${BENCH_REPLAY_TIMEOUT:-900}
SERVER=
mkdir -p "$DIR"
[ -x "$TRAIL" ] || swift build -c release --product trail
command -v jq >/dev/null || { echo "bench/run.sh needs jq" >&2; exit 2; }
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true' EXIT

corpus() { # name agents entries [gen options...]; generated once, reused
  local name=$1 agents=$2 entries=$3; shift 3
  local f="$DIR/$name.bin"
  if [ ! -f "$f" ]; then
    timeout 3600 "$TRAIL" bench gen --agents "$agents" --entries "$entries" --out "$f.tmp" "$@" >&2
    mv "$f.tmp" "$f"
  fi
  echo "$f"
}

serve() { # data-dir
  "$TRAIL" serve --data "$1" --listen 127.0.0.1:$PORT --http $HTTP --log-level warning >"$DIR/serve.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && return; sleep 0.1; done
  echo "server did not start" >&2; exit 1
}

stop() { kill "$SERVER"; wait "$SERVER" || true; SERVER=; }

replay() { # corpus [replay options...]; prints the replay's JSON object
  local c=$1; shift
  timeout $((REPLAY_TIMEOUT + 300)) "$TRAIL" bench replay "$c" --server 127.0.0.1:$PORT --connections "$CONNS" \
    --server-pid "$SERVER" --json --timeout "$REPLAY_TIMEOUT" "$@"
}

# The data folder's bytes (every file, du -sb) per stored entry, next to the stored entries'
# own encoded bytes per entry. Call after stop.
disk() { # replay-json...
  local stored raw bytes
  stored=$(printf '%s\n' "$@" | jq -s 'map(.stored) | add')
  raw=$(printf '%s\n' "$@" | jq -s 'map(.stored_bytes) | add')
  bytes=$(du -sb "$DIR/data" | cut -f1)
  jq -cn --argjson b "$bytes" --argjson n "$stored" --argjson r "$raw" \
    '{folder_bytes: $b, stored_entries: $n, bytes_per_entry: (if $n > 0 then ($b / $n * 10 | round / 10) else null end),
      raw_bytes_per_entry: (if $n > 0 then ($r / $n * 10 | round / 10) else null end),
      x_raw: (if $r > 0 then ($b / $r * 100 | round / 100) else null end)}'
}

line() { # label replay-json [disk-json]
  jq -cn --arg s "$1" --argjson r "$2" --argjson d "${3:-null}" '{scenario: $s, result: $r} + (if $d then {disk: $d} else {} end)'
}

run() { # label corpus [replay options...]: fresh store, one replay, the disk cost
  local label=$1 c=$2; shift 2
  rm -rf "$DIR/data"; serve "$DIR/data"
  local out; out=$(replay "$c" "$@")
  stop
  line "$label" "$out" "$(disk "$out")"
}

A1000=(a1000-e1000000 1000 1000000)
for s in "${@:-1000}"; do
  case "$s" in
    1000) run "1000 agents, 1M entries, durable" "$(corpus "${A1000[@]}")" ;;
    10) run "10 agents, 1M entries, durable" "$(corpus a10-e1000000 10 1000000)" ;;
    100000) run "100,000 agents, 1M entries, durable" "$(corpus a100000-e1000000 100000 1000000)" ;;
    governed)
      run "governed: 1000 agents (a third under policies), 1M entries, durable" \
        "$(corpus a1000-e1000000-governed 1000 1000000 --governed)" ;;
    hostile)
      run "hostile: 1000 agents, 1M entries + 1% bad signatures, 0.1% each of malformed, duplicates, conflicts, gaps, equivocations" \
        "$(corpus a1000-e1000000-hostile 1000 1000000 --bad-signatures 0.01 --malformed 0.001 --duplicates 0.001 \
          --conflicts 0.001 --gaps 0.001 --equivocations 0.001)" ;;
    halfload)
      # Ack latency at half the Ed25519 limit, small batches, 20 s.
      c=$(corpus "${A1000[@]}")
      limit=$(timeout 60 "$TRAIL" bench limit --seconds 2 | awk '{print int($1)}')
      rm -rf "$DIR/data"; serve "$DIR/data"
      out=$(REPLAY_TIMEOUT=20 replay "$c" --batch 16 --window 2 --rate $((limit / 2)))
      stop
      line "half load: --rate $((limit / 2)) --batch 16 --window 2 for 20 s" "$out" ;;
    stored10m)
      # The same 1M-entry replay on an empty store and on top of 10M entries of 1000 other
      # agents; RssAnon when 1M and when 10M entries are stored (same 1000 signers).
      c=$(corpus "${A1000[@]}")
      pre=$(corpus a1000-e10m 1000 10000000 --seed preload)
      rm -rf "$DIR/data"; serve "$DIR/data"
      empty=$(replay "$c"); stop
      line "1000 agents, 1M entries, empty store" "$empty"
      rm -rf "$DIR/data"; serve "$DIR/data"
      preload=$(REPLAY_TIMEOUT=3000 replay "$pre" --rss-at 1000000)
      line "preload 10M entries (1000 agents)" "$preload"
      top=$(replay "$c")
      stop
      line "1000 agents, 1M entries, on top of 10M stored" "$top" "$(disk "$preload" "$top")"
      jq -cn --argjson e "$empty" --argjson p "$preload" --argjson t "$top" \
        '{scenario: "stored10m summary", ratio_empty: $e.ratio, ratio_on_10m: $t.ratio,
          on_10m_vs_empty: (($t.ratio / $e.ratio * 1000 | round) / 1000),
          rss_anon_mb_at_1m: $p.server_rss_anon_mb_at["1000000"], rss_anon_mb_at_10m: $p.server_rss_anon_mb,
          rss_anon_mb_at_11m: $t.server_rss_anon_mb}' ;;
    bundle)
      # Offline verification of one agent's 100k-entry chain exported from a 1M-entry log.
      c=$(corpus a10-e1000000 10 1000000)
      rm -rf "$DIR/data"; serve "$DIR/data"
      line "10 agents, 1M entries (log for the bundle)" "$(replay "$c")"
      did=$("$TRAIL" bench agent --index 0)
      "$TRAIL" node key --data "$DIR/data" >"$DIR/log.pub"
      line "export" "$(timeout 600 "$TRAIL" export "$did" --http "http://$HTTP" --out "$DIR/a0.bundle" --json)"
      stop
      line "offline verify, 100k-entry bundle" "$(timeout 600 "$TRAIL" bench verify "$DIR/a0.bundle" --log-key "$DIR/log.pub" --json)" ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
  esac
done
