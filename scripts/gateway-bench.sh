#!/usr/bin/env bash
# Added latency and throughput of the headroom gateway and of LiteLLM's proxy, side by side in one
# run, against the same loopback mock backend (an OpenAI-compatible server that answers at once).
# Everything listens on 127.0.0.1; every load step is bounded by rate or connections and by time.
#
# Usage: scripts/gateway-bench.sh [LITELLM_BIN]
#   LITELLM_BIN: the `litellm` executable from `pip install 'litellm[proxy]'` (skipped if absent).
# Env: RATES (default "100 500 1000"), SECONDS_PER_STEP (10), CONNECTIONS (32);
#   BENCH_BIN: a prebuilt gateway-bench example (skips the build);
#   PIN=1: pin with taskset: mock on CPU 1, the gateway or LiteLLM on CPUs 2-3 (two cores),
#   the load generator on CPUs 4-7 (needs at least 8 CPUs).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
litellm="${1:-}"
rates="${RATES:-100 500 1000}"
step="${SECONDS_PER_STEP:-10}"
connections="${CONNECTIONS:-32}"
mock_port=18180 gateway_port=18181 litellm_port=18182
work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

bench="${BENCH_BIN:-}"
if [[ -z "$bench" ]]; then
  cargo build --release -q -p headroom-gateway --example gateway-bench --manifest-path "$root/Cargo.toml"
  bench="$root/target/release/examples/gateway-bench"
fi
pin_mock=() pin_server=() pin_load=()
if [[ "${PIN:-0}" == 1 ]]; then
  pin_mock=(taskset -c 1) pin_server=(taskset -c 2,3) pin_load=(taskset -c 4-7)
fi

"${pin_mock[@]}" "$bench" mock "$mock_port" & pids+=($!)

cat > "$work/gateway.toml" <<TOML
[server]
listen = "127.0.0.1:$gateway_port"
decision_log = "$work/decisions.jsonl"
[backends.mock]
kind = "openai"
local = true
urls = ["http://127.0.0.1:$mock_port/v1"]
[[models]]
name = "bench"
reserve_output_tokens = 16
[models.local]
backend = "mock"
model = "bench"
max_num_ctx_tokens = 32768
TOML
"${pin_server[@]}" "$bench" serve "$work/gateway.toml" 2> "$work/gateway.log" & pids+=($!)

start_litellm() {
  cat > "$work/litellm.yaml" <<YAML
model_list:
  - model_name: bench
    litellm_params:
      model: openai/bench
      api_base: http://127.0.0.1:$mock_port/v1
      api_key: sk-bench
YAML
  # No network: use the bundled model cost map, no telemetry.
  # No master key: loopback-only benchmark (LiteLLM refuses to start without one unless told).
  LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY=true \
    "${pin_server[@]}" "$litellm" --config "$work/litellm.yaml" --host 127.0.0.1 --port "$litellm_port" \
    > "$work/litellm.log" 2>&1 & pids+=($!)
}

wait_for() { for _ in $(seq 1 240); do curl -sf -o /dev/null -X POST -H 'content-type: application/json' \
  -d '{"model":"bench","messages":[{"role":"user","content":"hi"}]}' "$1" && return 0; sleep 0.5; done; echo "not ready: $1" >&2; return 1; }
direct="http://127.0.0.1:$mock_port/v1/chat/completions"
gateway="http://127.0.0.1:$gateway_port/v1/chat/completions"
proxy="http://127.0.0.1:$litellm_port/v1/chat/completions"
wait_for "$direct"; wait_for "$gateway"

measure() { # label url: the throughput ceiling, then each fixed rate
  printf '%s ' "$1"; "${pin_load[@]}" "$bench" ceiling "$2" "$connections" "$step"
  for rate in $rates; do
    printf '%s ' "$1"; "${pin_load[@]}" "$bench" rate "$2" "$rate" "$step"
  done
}

echo "# $(date -u +%FT%TZ) $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), PIN=${PIN:-0}"
# Phase 1, LiteLLM not yet started: an overloaded LiteLLM keeps working through its backlog for
# seconds after a step ends, and on a small machine that steals CPU from whatever runs next.
printf 'headroom-sequential '; "${pin_load[@]}" "$bench" sequential "$direct" "$gateway" 20 50
measure direct "$direct"
measure headroom "$gateway"
if [[ -n "$litellm" ]]; then
  # Phase 2: LiteLLM, measured alone against the same mock (direct figures above are its baseline).
  start_litellm
  wait_for "$proxy"
  printf 'litellm-sequential '; "${pin_load[@]}" "$bench" sequential "$direct" "$proxy" 5 20
  measure litellm "$proxy"
fi
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
