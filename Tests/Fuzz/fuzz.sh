#!/usr/bin/env bash
# libFuzzer harnesses for every decoder that takes bytes from outside (Tests/Fuzz/README.md).
#
#   Tests/Fuzz/fuzz.sh build              build .build-fuzz/bin/<harness> (TrailCore with ASan and coverage)
#   Tests/Fuzz/fuzz.sh run [HARNESS...]   seed the corpora, then run each harness FUZZ_SECONDS (default 30)
#   Tests/Fuzz/fuzz.sh list               the harness names
#
# FUZZ_RUNS=N runs each harness for N inputs instead (with FUZZ_SECONDS as the time bound).
# Everything goes under .build-fuzz/ (gitignored): lib/, bin/, corpus/<harness>/, crashes/, logs/.
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT=.build-fuzz
SWIFTC=${SWIFTC:-swiftc}
HARNESSES=(entry frames bundle note tlog-proof json disclosure)
FLAGS=(-sanitize=fuzzer,address -O -g -parse-as-library -I Sources/CSodium)

source_of() {
    case $1 in
        entry) echo FuzzEntry.swift ;;
        frames) echo FuzzFrames.swift ;;
        bundle) echo FuzzBundle.swift ;;
        note) echo FuzzNote.swift ;;
        tlog-proof) echo FuzzTlogProof.swift ;;
        json) echo FuzzJSON.swift ;;
        disclosure) echo FuzzDisclosure.swift ;;
        *) echo "unknown harness $1 (one of: ${HARNESSES[*]})" >&2; exit 2 ;;
    esac
}

# The linker warns once per ASan helper symbol; that noise hides real errors.
quiet() { "$@" 2> >(grep -v "Cannot export local symbol" >&2); }

newer() {  # newer TARGET SOURCES...: true if TARGET is missing or older than any source
    local t=$1
    shift
    [ -e "$t" ] || return 0
    for s in "$@"; do [ "$s" -nt "$t" ] && return 0; done
    return 1
}

build() {
    mkdir -p "$OUT/lib" "$OUT/bin"
    local lib=$OUT/lib/libTrailCore.a
    if newer "$lib" Sources/TrailCore/*.swift Tests/Fuzz/fuzz.sh; then
        echo "fuzz: building TrailCore with -sanitize=fuzzer,address"
        quiet "$SWIFTC" "${FLAGS[@]}" -enable-testing -wmo -module-name TrailCore -emit-library -static \
            -emit-module -emit-module-path "$OUT/lib/TrailCore.swiftmodule" Sources/TrailCore/*.swift -o "$lib"
    fi
    for h in "${HARNESSES[@]}"; do
        local src=Tests/Fuzz/$(source_of "$h")
        if newer "$OUT/bin/$h" "$src" Tests/Fuzz/Support.swift "$lib"; then
            echo "fuzz: building $h"
            quiet "$SWIFTC" "${FLAGS[@]}" -I "$OUT/lib" Tests/Fuzz/Support.swift "$src" \
                -L "$OUT/lib" -lTrailCore -lsodium -o "$OUT/bin/$h"
        fi
    done
}

run() {
    local seconds=${FUZZ_SECONDS:-30}
    local list=("$@")
    [ ${#list[@]} -gt 0 ] || list=("${HARNESSES[@]}")
    build
    python3 Tests/Fuzz/seeds.py "$OUT/corpus" >/dev/null
    mkdir -p "$OUT/crashes" "$OUT/logs"
    local failed=0
    for h in "${list[@]}"; do
        source_of "$h" >/dev/null
        local corpus=$OUT/corpus/$h
        local seeds=()
        [ -d "Tests/Fuzz/seeds/$h" ] && seeds=("Tests/Fuzz/seeds/$h")
        local bound=(-max_total_time="$seconds")
        [ -n "${FUZZ_RUNS:-}" ] && bound+=(-runs="$FUZZ_RUNS")
        local log=$OUT/logs/$h.log
        # Benchmarks on a shared machine take a lock; wait for it between harnesses.
        while [ -e /tmp/agenttrail-bench.lock ]; do sleep 5; done
        local start=$SECONDS
        # -timeout: one input taking a second is a hang; -rss_limit_mb bounds what one input allocates.
        if "$OUT/bin/$h" "${bound[@]}" -timeout=2 -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$OUT/crashes/$h-" "$corpus" "${seeds[@]}" >"$log" 2>&1; then
            local runs cov
            runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
            cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
            printf 'fuzz: %-11s %10s inputs in %4ds, %s, 0 crashes\n' "$h" "$runs" $((SECONDS - start)) "$cov"
        else
            failed=1
            echo "fuzz: $h FAILED (log $log, input in $OUT/crashes/):"
            grep -E 'invariant broken|Fatal error|ERROR: (libFuzzer|AddressSanitizer)|SUMMARY' "$log" | head -5 || tail -20 "$log"
        fi
    done
    return $failed
}

case ${1:-run} in
    build) build ;;
    run) shift || true; run "$@" ;;
    list) echo "${HARNESSES[*]}" ;;
    *) echo "usage: $0 build | run [HARNESS...] | list" >&2; exit 2 ;;
esac
