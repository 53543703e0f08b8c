"""Prints the prefix-cache benchmark's Markdown table from the runs that benchmarks/prefix-cache/run.sh left in WORK."""
import json
import sys
from pathlib import Path

work = Path(sys.argv[1])


def load(name):
    board = json.loads((work / f"{name}.json").read_text())
    scores = {}
    for row in board:
        for replicate in row["replicates"]:
            label = ", ".join(f"{k} {v}" for k, v in row["hyperparameters"].items()) or replicate["trial"]
            scores[replicate["trial"]] = (label, replicate["metrics"]["f1"])
    seconds = float((work / f"{name}.seconds").read_text())
    cache = int((work / f"{name}.cache-bytes").read_text().strip() or 0)
    return seconds, scores, cache


print("| sweep | trials | uncached | cached | ratio | cache on disk |")
print("|---|---:|---:|---:|---:|---:|")
details = []
for base in sys.argv[2:]:
    plain_seconds, plain, _ = load(f"{base}-uncached")
    cached_seconds, cached, cache_bytes = load(f"{base}-cached")
    print(f"| {base} | {len(plain)} | {plain_seconds:.0f} s | {cached_seconds:.0f} s | {cached_seconds / plain_seconds:.2f}× | {cache_bytes / 2**20:.0f} MiB |")
    for trial in sorted(plain):
        label, f1 = plain[trial]
        details.append(f"| {base} | {trial} | {label} | {f1:.4f} | {cached[trial][1]:.4f} | {abs(f1 - cached[trial][1]):.4f} |")
print()
print("| sweep | trial | hyperparameters | test F1 uncached | test F1 cached | difference |")
print("|---|---|---|---:|---:|---:|")
print("\n".join(details))
