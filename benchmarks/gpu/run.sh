#!/usr/bin/env bash
# The GPU device check. On the device (a GPU, PyTorch with CUDA, no dotnet), from the repository root:
#     bash .gpu/run.sh --out "$OUT"
# Here, the same steps on the CPU against the NuGet libtorch-cpu, proving the bundle loads by path alone:
#     benchmarks/gpu/prepare.sh && bash .gpu/run.sh --cpu-rehearsal --out /tmp/gpu-rehearsal
# It unpacks the bundle that prepare.sh made into a scratch folder, points LD_LIBRARY_PATH at a libtorch that is not
# ours, and runs check.py, which writes OUT/summary.json. Exit status 0 when every check passed.
set -uo pipefail
bundle=$(cd "$(dirname "$0")" && pwd)
out=""
rehearsal=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --cpu-rehearsal) rehearsal=1; shift ;;
    *) echo "run.sh: unknown argument '$1' (use --out DIR [--cpu-rehearsal])" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || { echo "run.sh: --out DIR is required" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d /tmp/experimentgrid-gpu.XXXXXX)
echo "run.sh: unpacking into $work"
for archive in "$bundle"/*.tar.xz; do
  if command -v xz >/dev/null; then
    tar -xJf "$archive" -C "$work" || exit 1
  else
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$archive" "$work" || exit 1
  fi
done

if [ "$rehearsal" = 1 ]; then
  repo=$(cd "$bundle/.." && pwd)
  nuget=${NUGET_PACKAGES:-$HOME/.nuget/packages}
  torch_libs="$nuget/libtorch-cpu-linux-x64/2.10.0/runtimes/linux-x64/native"
  [ -f "$torch_libs/libtorch_cpu.so" ] || { echo "run.sh: no NuGet libtorch-cpu at $torch_libs; build the solution once" >&2; exit 1; }
  reference="$repo/src/Client/bin/Release/net10.0/grid"
  [ -x "$reference" ] || dotnet build "$repo/src/Client" -c Release -nologo -v quiet >/dev/null || exit 1
  minilm=${EXPERIMENTGRID_HOME:-$HOME/.cache/experimentgrid}/models/minilm
  export LD_LIBRARY_PATH="$torch_libs:$work/icu"
  extra=(--cpu-rehearsal --reference-grid "$reference" --rehearsal-model "$minilm" --budget 900)
else
  torch_dir=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))') || exit 1
  site=$(dirname "$torch_dir")
  nvidia_libs=$(ls -d "$site"/nvidia/*/lib 2>/dev/null | paste -sd:)
  export LD_LIBRARY_PATH="$torch_dir/lib:${nvidia_libs}:$work/icu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  extra=()
fi
echo "run.sh: LD_LIBRARY_PATH=$LD_LIBRARY_PATH" | tee -a "$out/log.txt"
PYTHONUNBUFFERED=1 python3 "$bundle/check.py" --work "$work" --out "$out" "${extra[@]}"
