#!/usr/bin/env bash
# `make demo`: start the sandbox with its seeded clinic, run the pipeline with `meltano run`,
# print what was written, stop the sandbox. Run it twice to see an incremental run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT=8765

"$BIN/sandbox" serve --cliniko-port "$PORT" --patients 2000 --invoices 3000 > .sandbox.log 2>&1 &
SANDBOX_PID=$!
trap 'kill "$SANDBOX_PID" 2>/dev/null || true' EXIT

for _ in $(seq 1 120); do
  if "$BIN/python" -c "import requests,sys; requests.get('http://127.0.0.1:$PORT/_sandbox/stats', timeout=1)" 2>/dev/null; then
    break
  fi
  sleep 0.5
done

rm -rf output && mkdir -p output
START=$(date +%s)
"$BIN/meltano" --environment dev run tap-cliniko target-jsonl
END=$(date +%s)

echo
echo "Records written to output/ by this run (took $((END - START)) s):"
for f in output/*.jsonl; do
  printf '  %-34s %7d\n' "$(basename "$f" .jsonl)" "$(wc -l < "$f")"
done
