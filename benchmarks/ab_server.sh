#!/usr/bin/env bash
# bench_server.py on two commits, alternating A and B each round, against the same services: on a
# loaded machine run-to-run noise is larger than most changes, and alternating spreads it over both.
#
#   benchmarks/ab_server.sh REF_A REF_B ROUNDS [bench_server.py arguments...]
#   benchmarks/ab_server.sh main batch14 3 --server standalone --rate 2000/min --duration 20 \
#       --flow sequential_40_logs --runs 5
#
# Each ref is exported (git archive) and run with this checkout's .venv, its engine first on
# PYTHONPATH (the server's children inherit it); the plugins are the checkout's installed ones.
# JSON results and logs go to benchmarks/results/ab-<time>/, with the load average around each run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
a=$1 b=$2 rounds=$3
shift 3
out="$root/benchmarks/results/ab-$(date -u +%Y%m%dT%H%M%SZ)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
for side in a b; do
  mkdir -p "$work/$side"
  git -C "$root" archive "${!side}" | tar -x -C "$work/$side"
done
for k in $(seq 1 "$rounds"); do
  for side in a b; do
    before=$(cut -d' ' -f1 /proc/loadavg)
    (cd "$work/$side" && PYTHONPATH="$work/$side" "$root/.venv/bin/python" benchmarks/bench_server.py "$@" \
      --output "$out/$side$k.json") > "$out/$side$k.log" 2>&1 || echo "$side$k failed: see $out/$side$k.log"
    echo "$side$k ${!side} load $before -> $(cut -d' ' -f1 /proc/loadavg) $(date -u +%H:%M:%S)" | tee -a "$out/runs.txt"
  done
done
