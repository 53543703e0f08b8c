#!/usr/bin/env bash
# Measures the frozen-prefix cache on the grid itself: each sweep run twice on one in-process silo, with the cache
# (trial field prefix_cache: true, the default) and without, each on a fresh EXPERIMENTGRID_HOME, so the cached run
# pays for filling its cache. Prints wall times, their ratio, every trial's test F1 both ways and the cache's size.
#
#   benchmarks/prefix-cache/run.sh [SWEEP.yaml ...]    # default: the freeze sweep and the head-only sweep
#
# Needs the grid built (dotnet build src/Client -c Release) and the datasets ($EXPERIMENTGRID_DATA or ../shared/datasets).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
# GRID: another build of the CLI, e.g. a copy that a rebuild during the run leaves alone.
grid=${GRID:-$repo/src/Client/bin/Release/net10.0/grid}
[ -x "$grid" ] || { echo "run: dotnet build $repo/src/Client -c Release first" >&2; exit 2; }
sweeps=("$@")
[ ${#sweeps[@]} -gt 0 ] || sweeps=("$repo/examples/sweeps/rotten-tomatoes-freeze.yaml" "$repo/examples/sweeps/rotten-tomatoes-head-only.yaml")
work=$(mktemp -d "${TMPDIR:-/tmp}/prefix-cache-bench.XXXXXX")
export EXPERIMENTGRID_DATA=${EXPERIMENTGRID_DATA:-$(cd "$repo/.." && pwd)/shared/datasets}
# The bundled model is imported once, outside the timed runs, into a cache every run shares.
models="$work/models"
mkdir -p "$models"

# run NAME SPEC: one sweep on a fresh home; writes NAME.json (leaderboard), NAME.seconds and NAME.cache-bytes.
run() {
  local name=$1 spec=$2 home="$work/$1"
  mkdir -p "$home"
  ln -s "$models" "$home/models"
  local start end
  start=$(date +%s.%N)
  EXPERIMENTGRID_HOME="$home" "$grid" sweep run "$spec" --slots cpu:1 --top 100 > "$work/$name.log" 2>&1 \
    || { echo "$name: the sweep failed; see $work/$name.log" >&2; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc > "$work/$name.seconds"
  du -sb "$home/cache" 2>/dev/null | cut -f1 > "$work/$name.cache-bytes" || echo 0 > "$work/$name.cache-bytes"
  local id
  id=$(sed -n 's/^sweep \([^ ]*\).*/\1/p' "$work/$name.log" | head -1)
  # The finished store, served without slots on spare ports, gives the leaderboard as JSON.
  EXPERIMENTGRID_HOME="$home" "$grid" silo --state "$home/state" --checkpoints "$home/checkpoints" --slots cpu:1 \
    --silo-port 11191 --gateway-port 30091 --http-port 0 > "$work/$name.silo.log" 2>&1 &
  local silo=$!
  for _ in $(seq 1 60); do
    sleep 1
    "$grid" leaderboard --sweep "$id" --json --top 100 --cluster 127.0.0.1:30091 > "$work/$name.json" 2>/dev/null && break
  done
  kill "$silo"; wait "$silo" 2>/dev/null || true
}

# A few-example trial imports MiniLM into $work/models before anything is timed.
EXPERIMENTGRID_HOME="$work" "$grid" train --model minilm --train-limit 8 --eval-limit 8 --test-split none --max-length 16 \
  --prefix-cache false --out "$work/import" > "$work/import.log" 2>&1 || { echo "importing minilm failed; see $work/import.log" >&2; exit 1; }
names=()
for spec in "${sweeps[@]}"; do
  base=$(basename "$spec" .yaml)
  uncached="$work/$base-uncached.yaml"
  # The same sweep with the trial field prefix_cache: false.
  sed 's/^trial:$/trial:\n  prefix_cache: false/' "$spec" > "$uncached"
  grep -q '^  prefix_cache: false$' "$uncached" || { echo "$spec: no 'trial:' line to add prefix_cache to" >&2; exit 2; }
  run "$base-uncached" "$uncached"
  run "$base-cached" "$spec"
  names+=("$base")
done
python3 "$repo/benchmarks/prefix-cache/report.py" "$work" "${names[@]}"
echo "(runs kept in $work)"
