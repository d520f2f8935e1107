#!/usr/bin/env bash
# `make demo`: start the sandbox's seeded clinic (Cliniko and PayPal), run the job
# `meltano run cliniko-to-paypal`, print what it did, rerun it to show an incremental run with
# nothing to do, and stop the sandbox. Everything the demo writes stays in .demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/.venv/bin"
DEMO="$PWD/.demo"

rm -rf "$DEMO" && mkdir -p "$DEMO"
# Port 0: the sandbox asks the OS for two free loopback ports and prints them once it listens on
# them, so the demo never talks to another program holding meltano.yml's dev ports (8765/8766).
: > "$DEMO/sandbox.log"  # there before the first look: the background shell opens it later
# A second PayPal merchant account on the same port: one business invoices from its own.
SOUTH="demo-south-client-id:demo-south-secret:accounts@harbourside-south.example"
"$BIN/sandbox" serve --cliniko-port 0 --paypal-port 0 --paypal-account "$SOUTH" \
  > "$DEMO/sandbox.log" 2>&1 &
SANDBOX_PID=$!
trap 'kill "$SANDBOX_PID" 2>/dev/null || true' EXIT

get() { "$BIN/python" -c "import json,sys,requests; print(json.dumps(requests.get(sys.argv[1], timeout=2).json()))" "$1"; }
# The port our sandbox printed after "<label>  http://127.0.0.1:"; empty until it has.
port_of() { sed -n "s|^$1 *http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p" "$DEMO/sandbox.log"; }
# Wait (at most a minute: seeding takes seconds) until THAT process, still alive, answers on both.
CLINIKO_PORT="" PAYPAL_PORT="" ready=""
for _ in $(seq 1 120); do
  kill -0 "$SANDBOX_PID" 2>/dev/null \
    || { echo "The sandbox stopped before it was ready: $(tail -1 "$DEMO/sandbox.log")"; exit 1; }
  CLINIKO_PORT=${CLINIKO_PORT:-$(port_of "Cliniko sandbox:")}
  PAYPAL_PORT=${PAYPAL_PORT:-$(port_of "PayPal sandbox:")}
  if [ -n "$CLINIKO_PORT" ] && [ -n "$PAYPAL_PORT" ] \
    && get "http://127.0.0.1:$CLINIKO_PORT/_sandbox/stats" >/dev/null 2>&1 \
    && get "http://127.0.0.1:$PAYPAL_PORT/_sandbox/paypal/stats" >/dev/null 2>&1; then
    ready=1; break
  fi
  sleep 0.5
done
if [ -z "$ready" ]; then
  if [ -z "$CLINIKO_PORT" ] || [ -z "$PAYPAL_PORT" ]; then
    echo "The sandbox did not say which ports it listens on within a minute (.demo/sandbox.log)"
  elif ! get "http://127.0.0.1:$CLINIKO_PORT/_sandbox/stats" >/dev/null 2>&1; then
    echo "The sandbox's Cliniko API did not answer on port $CLINIKO_PORT (.demo/sandbox.log)"
  else
    echo "The sandbox's PayPal API did not answer on port $PAYPAL_PORT (.demo/sandbox.log)"
  fi
  exit 1
fi
CLINIKO=http://127.0.0.1:$CLINIKO_PORT
PAYPAL=http://127.0.0.1:$PAYPAL_PORT
# The pipeline and paypal-ops on those ports, over meltano.yml's dev config (environment variables
# win; tap-cliniko--billing inherits tap-cliniko's base_url, so TAP_CLINIKO_BASE_URL reaches it).
export TAP_CLINIKO_BASE_URL="$CLINIKO/v1"
export TARGET_PAYPAL_BASE_URL="$PAYPAL"
export PAYPAL_OPS_CLINIKO_BASE_URL="$CLINIKO/v1"
export PAYPAL_OPS_PAYPAL_BASE_URL="$PAYPAL"
# The credentials of that business's own account, in the variables its rules name.
export SOUTH_PAYPAL_CLIENT_ID=demo-south-client-id SOUTH_PAYPAL_CLIENT_SECRET=demo-south-secret

field() { "$BIN/python" -c "import json,sys; d=json.loads(sys.argv[1]); print(d$2)" "$3"; }
seeded=$(get "$CLINIKO/_sandbox/cliniko/invoices/count")
echo "Sandbox clinic: $(field x "['count']" "$seeded") invoices in Cliniko; PayPal empty."

# The demo's own Meltano state and target store, so every demo starts from scratch.
export MELTANO_DATABASE_URI="sqlite:///$DEMO/meltano.db"
export TARGET_PAYPAL_STORE_URL="sqlite:///$DEMO/store.db"

# The clinic runs several businesses, each with its own ABN: the shipped rules, with each
# business's name, ABN and address as its PayPal invoicer (invoicers.by_business), and the last
# with its own PayPal account (its email, and the variables holding its credentials).
"$BIN/python" - "$CLINIKO/v1/businesses" "$DEMO/rules.yaml" <<'PY'
import sys, requests, yaml
shipped = open("transforms/map_cliniko_paypal/mapping.yaml").read()
businesses = requests.get(sys.argv[1], auth=("sandbox-key-au1", ""), timeout=30,
                          headers={"User-Agent": "make demo (demo@example.com)"}).json()["businesses"]
by_business = {
    b["id"]: {"business_name": b["business_name"], "tax_id": b["business_registration_value"],
              "address": {"line1": b["address_1"], "city": b["city"], "state": b["state"],
                          "postal_code": b["post_code"], "country_code": b["country_code"]}}
    for b in businesses
}
by_business[max(by_business)].update(email="accounts@harbourside-south.example",
                                     client_id_env="SOUTH_PAYPAL_CLIENT_ID",
                                     client_secret_env="SOUTH_PAYPAL_CLIENT_SECRET")
block = yaml.safe_dump({"by_business": by_business}, sort_keys=True)
listed = "".join(f"  {line}\n" for line in block.splitlines())
assert "  by_business: {}\n" in shipped, "the shipped mapping.yaml's invoicers moved"
open(sys.argv[2], "w").write(shipped.replace("  by_business: {}\n", listed))
PY
export MAP_CLINIKO_PAYPAL_MAPPING_FILE="$DEMO/rules.yaml"

# Prints the wall time (callers capture it); a failure goes to stderr, so it is not captured.
run() {
  local log="$DEMO/$1.log" start end
  start=$(date +%s.%N)
  if ! "$BIN/meltano" --environment dev run cliniko-to-paypal > "$log" 2>&1; then
    echo "meltano run failed; the end of $log:" >&2; tail -20 "$log" >&2; exit 1
  fi
  end=$(date +%s.%N)
  "$BIN/python" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$start" "$end"
}

echo
echo "meltano run cliniko-to-paypal   (log: .demo/first-run.log)"
took=$(run first-run)
"$BIN/paypal-ops" summary
echo "  Wall time of meltano run: $took s"
# The sandbox's payers are made-up organisations, so the demo may name them (the summary never does).
"$BIN/python" - "$PAYPAL/_sandbox/paypal" <<'PY'
import collections, sys, requests
accounts = {"the clinic's": f"{sys.argv[1]}/invoices",  # the default account's, and the other's
            "own": f"{sys.argv[1]}/accounts/demo-south-client-id/invoices"}
held = {name: requests.get(url, timeout=30).json()["items"] for name, url in accounts.items()}
invoices = [i for items in held.values() for i in items]
payers = collections.Counter(
    i["primary_recipients"][0]["billing_info"].get("business_name")
    for i in invoices
    if i.get("primary_recipients")
)
payers.pop(None, None)
print("  In PayPal, addressed to the payer: " + ", ".join(f"{n} to {p}" for p, n in sorted(payers.items())))
businesses = collections.Counter(
    (i["invoicer"].get("business_name"), i["invoicer"].get("tax_id")) for i in invoices
)
print("  In PayPal, by business: " + ", ".join(
    f"{n} from {name} (ABN {abn})" for (name, abn), n in sorted(businesses.items())))
own = {i["invoicer"].get("business_name") for i in held["own"]}
held[f"{', '.join(sorted(own))}'s own"] = held.pop("own")
print("  By PayPal account: " + ", ".join(
    f"{len(items)} in {name} account" for name, items in held.items()))
PY

"$BIN/python" -c "import requests; requests.post('$CLINIKO/_sandbox/stats/reset'); requests.delete('$PAYPAL/_sandbox/paypal/calls'); requests.delete('$PAYPAL/_sandbox/paypal/accounts/demo-south-client-id/calls')"
echo
echo "meltano run cliniko-to-paypal again, with no change in Cliniko   (log: .demo/rerun.log)"
took=$(run rerun)
cliniko=$(get "$CLINIKO/_sandbox/stats")
calls=$(get "$PAYPAL/_sandbox/paypal/calls")
south=$(get "$PAYPAL/_sandbox/paypal/accounts/demo-south-client-id/calls")
writes=$(( $(field x "['writes']" "$calls") + $(field x "['writes']" "$south") ))
echo "  Cliniko requests: $(field x "['requests']" "$cliniko"); PayPal writes (both accounts): $writes; wall time: $took s"
echo
echo "Store (cross-references, audit log, dead letters): .demo/store.db; more: README.md"
