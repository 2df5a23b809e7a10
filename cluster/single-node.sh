#!/usr/bin/env bash
# One durable collector on 127.0.0.1 with its data in a local folder.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-./data}
PORT=${2:-7411}
[ -x .build/release/trail ] || swift build -c release --product trail
exec .build/release/trail serve --data "$DATA" --listen "127.0.0.1:$PORT"
