#!/usr/bin/env bash
# `make demo`: start the sandbox's seeded clinic (Cliniko and PayPal), run the job
# `meltano run cliniko-to-paypal`, print what it did, rerun it to show an incremental run with
# nothing to do, and stop the sandbox. Everything the demo writes stays in .demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/.venv/bin"
DEMO="$PWD/.demo"
CLINIKO=http://127.0.0.1:8765
PAYPAL=http://127.0.0.1:8766

rm -rf "$DEMO" && mkdir -p "$DEMO"
"$BIN/sandbox" serve --cliniko-port 8765 --paypal-port 8766 > "$DEMO/sandbox.log" 2>&1 &
SANDBOX_PID=$!
trap 'kill "$SANDBOX_PID" 2>/dev/null || true' EXIT

get() { "$BIN/python" -c "import json,sys,requests; print(json.dumps(requests.get(sys.argv[1], timeout=2).json()))" "$1"; }
for _ in $(seq 1 120); do
  if get "$CLINIKO/_sandbox/stats" >/dev/null 2>&1 && get "$PAYPAL/_sandbox/paypal/stats" >/dev/null 2>&1; then
    break
  fi
  kill -0 "$SANDBOX_PID" 2>/dev/null || { echo "The sandbox did not start (ports 8765/8766 in use?):"; tail -5 "$DEMO/sandbox.log"; exit 1; }
  sleep 0.5
done
field() { "$BIN/python" -c "import json,sys; d=json.loads(sys.argv[1]); print(d$2)" "$3"; }
seeded=$(get "$CLINIKO/_sandbox/cliniko/invoices/count")
echo "Sandbox clinic: $(field x "['count']" "$seeded") invoices in Cliniko; PayPal empty."

# The demo's own Meltano state and target store, so every demo starts from scratch.
export MELTANO_DATABASE_URI="sqlite:///$DEMO/meltano.db"
export TARGET_PAYPAL_STORE_URL="sqlite:///$DEMO/store.db"

run() {
  local log="$DEMO/$1.log" start end
  start=$(date +%s.%N)
  if ! "$BIN/meltano" --environment dev run cliniko-to-paypal > "$log" 2>&1; then
    echo "meltano run failed; the end of $log:"; tail -20 "$log"; exit 1
  fi
  end=$(date +%s.%N)
  "$BIN/python" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$start" "$end"
}

echo
echo "meltano run cliniko-to-paypal   (log: .demo/first-run.log)"
took=$(run first-run)
"$BIN/paypal-ops" summary
echo "  Wall time of meltano run: $took s"

"$BIN/python" -c "import requests; requests.post('$CLINIKO/_sandbox/stats/reset'); requests.delete('$PAYPAL/_sandbox/paypal/calls')"
echo
echo "meltano run cliniko-to-paypal again, with no change in Cliniko   (log: .demo/rerun.log)"
took=$(run rerun)
cliniko=$(get "$CLINIKO/_sandbox/stats")
calls=$(get "$PAYPAL/_sandbox/paypal/calls")
echo "  Cliniko requests: $(field x "['requests']" "$cliniko"); PayPal writes: $(field x "['writes']" "$calls"); wall time: $took s"
echo
echo "Store (cross-references, audit log, dead letters): .demo/store.db; more: README.md"
