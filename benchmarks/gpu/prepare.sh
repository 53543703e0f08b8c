#!/usr/bin/env bash
# Packs the GPU device check into .gpu/ (git-ignored), to be carried to a machine that has a GPU, PyTorch and no dotnet.
#
# The route: our CLI published framework-dependent with no libtorch of its own (TorchBackend=none), TorchSharp's
# NuGet libLibTorchSharp.so (the copy the build weakens for Debian's older libstdc++), and, on the device, the
# libtorch of the machine's own PyTorch wheel found through LD_LIBRARY_PATH. Nothing here builds native code.
#
# Usage: benchmarks/gpu/prepare.sh        (README.md, "GPU silos", says how to run the check)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out="$repo/.gpu"
data_root=${EXPERIMENTGRID_DATA:-$repo/../shared/datasets}
limit_mib=56

die() { echo "prepare: $*" >&2; exit 1; }
[ -f "$data_root/rotten_tomatoes/train.jsonl" ] || die "$data_root/rotten_tomatoes is missing (set EXPERIMENTGRID_DATA)."
command -v xz >/dev/null || die "xz is needed (apt-get install xz-utils)."

dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
runtime=$(dotnet --list-runtimes | awk '$1 == "Microsoft.NETCore.App" && $2 ~ /^10\./ { v = $2 } END { print v }')
aspnet=$(dotnet --list-runtimes | awk '$1 == "Microsoft.AspNetCore.App" && $2 == "'"$runtime"'" { print $2 }')
[ -n "$runtime" ] && [ -n "$aspnet" ] || die "the .NET 10 and ASP.NET Core 10 runtimes are needed (dotnet --list-runtimes)."

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# A copy of the tree, so that the TorchBackend=none restore leaves the developer's obj/ folders alone.
echo "prepare: publishing the CLI without libtorch (TorchBackend=none)"
mkdir -p "$scratch/src"
(cd "$repo" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -xf - -C "$scratch/src"
dotnet publish "$scratch/src/src/Client" -c Release -r linux-x64 --self-contained false -p:TorchBackend=none \
    -o "$scratch/app" -nologo -v quiet >"$scratch/publish.log" 2>&1 || { cat "$scratch/publish.log" >&2; die "publish failed"; }
# The bundled sentence-transformers weights (87 MB) do not travel; the check makes its own seeded weights.
rm -rf "$scratch/app/bundled-models" "$scratch/app"/*.pdb
find "$scratch/app" -name 'libtorch*.so*' -o -name 'libc10*.so*' | grep -q . && die "the app folder holds a libtorch of its own."
[ -f "$scratch/app/libLibTorchSharp.so" ] || die "libLibTorchSharp.so is missing from the publish output."

echo "prepare: packing"
rm -rf "$out" && mkdir -p "$out"
tar -C "$dotnet_root" --transform "s,^,dotnet/," -cf - dotnet host "shared/Microsoft.NETCore.App/$runtime" "shared/Microsoft.AspNetCore.App/$aspnet" \
    | xz -T0 -9 >"$out/dotnet.tar.xz"
tar -C "$scratch" -cf - app | xz -T0 -9 >"$out/app.tar.xz"
# ICU: the tokenizer's accent stripping needs Unicode decomposition, and the device image may have no libicu.
icu_dir=$(dirname "$(ldconfig -p | awk '/libicuuc\.so\.[0-9]+ .*x86-64/ { print $NF; exit }')")
mkdir -p "$scratch/icu" && cp -L "$icu_dir"/libicu{uc,i18n,data}.so.[0-9][0-9] "$scratch/icu/"
tar -C "$scratch" -cf - icu | xz -T0 -9 >"$out/icu.tar.xz"

# Data: rotten_tomatoes, and MiniLM's config and vocabulary (the check initialises weights from the config).
minilm=${EXPERIMENTGRID_HOME:-$HOME/.cache/experimentgrid}/models/minilm
if [ ! -f "$minilm/config.json" ]; then
  echo "prepare: importing the bundled MiniLM once, for its config and vocabulary"
  dotnet run --project "$repo/src/Client" -c Release -- embed --model minilm "import" >/dev/null
fi
mkdir -p "$scratch/data/datasets" "$scratch/data/minilm-config"
cp -r "$data_root/rotten_tomatoes" "$scratch/data/datasets/"
cp "$minilm"/{config.json,vocab.txt,tokenizer_config.json,special_tokens_map.json} "$scratch/data/minilm-config/"
tar -C "$scratch" -cf - data | xz -T0 -9 >"$out/data.tar.xz"

cp "$repo/benchmarks/gpu/run.sh" "$repo/benchmarks/gpu/check.py" "$out/"

size_kib=$(du -sk "$out" | cut -f1)
ls -l "$out"
echo "prepare: .gpu/ is $((size_kib / 1024)) MiB ($size_kib KiB; limit ${limit_mib} MiB)"
[ "$size_kib" -le $((limit_mib * 1024)) ] || die ".gpu/ is over ${limit_mib} MiB"
