#!/usr/bin/env python3
"""The GPU device check: our `grid` against Python transformers on one GPU, writing OUT/summary.json.

run.sh unpacks the bundle and calls this. Every step runs even when one before it failed; each records its outcome
under summary["steps"]. With --cpu-rehearsal it runs the same steps on this machine's CPU with smaller sizes: there
is no PyTorch here, so the Python peers are replaced (parity against the normal CPU build's `grid embed`) or skipped.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import traceback

parser = argparse.ArgumentParser()
parser.add_argument("--work", required=True, help="where run.sh unpacked the bundle")
parser.add_argument("--out", required=True)
parser.add_argument("--cpu-rehearsal", action="store_true")
parser.add_argument("--reference-grid", help="rehearsal: the normal CPU build's grid, the parity reference")
parser.add_argument("--rehearsal-model", help="rehearsal: an imported MiniLM directory (no transformers to make one)")
parser.add_argument("--budget", type=float, default=420, help="seconds for the whole check; later steps are skipped past it")
args = parser.parse_args()

REHEARSAL = args.cpu_rehearsal
WORK, OUT = os.path.abspath(args.work), os.path.abspath(args.out)
os.makedirs(OUT, exist_ok=True)
DEADLINE = time.monotonic() + args.budget
DEVICE = "cpu" if REHEARSAL else "cuda"
DATA = os.path.join(WORK, "data", "datasets")
GRID = [os.path.join(WORK, "dotnet", "dotnet"), os.path.join(WORK, "app", "grid.dll")]
ENV = dict(os.environ, EXPERIMENTGRID_HOME=os.path.join(WORK, "home"), EXPERIMENTGRID_DATA=DATA,
           DOTNET_ROOT=os.path.join(WORK, "dotnet"), DOTNET_CLI_TELEMETRY_OPTOUT="1", NO_COLOR="1")
LOG = open(os.path.join(OUT, "log.txt"), "a", buffering=1)

# Sizes: the device runs the real settings; the rehearsal proves the same steps on 2 CPU cores in a few minutes.
MAX_LENGTH = 64 if REHEARSAL else 128
TRAIN_LIMIT = 128 if REHEARSAL else 4096           # training check: 8 (rehearsal) or 256 steps at batch 16
SPEED_SETTINGS = [(16, "fp32"), (16, "bf16")] if REHEARSAL else [(32, "fp32"), (32, "bf16"), (128, "fp32"), (128, "bf16")]
SPEED_TRAIN_LIMIT = 128 if REHEARSAL else None     # None: the whole train split (8,530 texts)
TOLERANCE = 1e-4

summary = {
    "mode": "cpu-rehearsal" if REHEARSAL else "gpu",
    "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "device": None,
    "parity_max_abs_diff": None,
    "train_loss_first": {},
    "train_loss_last": {},
    "samples_per_s": {},
    "python_load_max_abs_diff": None,
    "gpu_memory_peak_mib": {},
    "gpu_utilization_mean_pct": {},
    "packing": None,
    "steps": {},
    "ok": False,
}


def log(message):
    LOG.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    print(message, flush=True)


def remaining():
    return DEADLINE - time.monotonic()


def step(name, needs=0):
    """Runs the decorated function at once as one step; a failure is recorded and the check goes on."""
    def run(fn):
        if remaining() < needs:
            summary["steps"][name] = {"ok": False, "skipped": f"under {needs} s of the budget left"}
            log(f"== {name}: skipped, {remaining():.0f} s left")
            return fn
        log(f"== {name}")
        began = time.monotonic()
        try:
            detail = fn()
            summary["steps"][name] = {"ok": True, "seconds": round(time.monotonic() - began, 1), **(detail or {})}
        except Exception as e:  # noqa: BLE001 - every failure is recorded, and the next step runs
            log(traceback.format_exc())
            summary["steps"][name] = {"ok": False, "seconds": round(time.monotonic() - began, 1), "error": f"{type(e).__name__}: {e}"[:2000]}
        write_summary()
        return fn
    return run


def write_summary():
    with open(os.path.join(OUT, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)


def grid(*arguments, stdin=None, timeout=300):
    command = GRID + [str(a) for a in arguments]
    log("$ grid " + " ".join(str(a) for a in arguments))
    result = subprocess.run(command, input=stdin, capture_output=True, text=True, env=ENV,
                            timeout=max(5, min(timeout, remaining())))
    LOG.write(result.stderr[-6000:])
    if result.returncode != 0:
        raise RuntimeError(f"grid {arguments[0]} exited {result.returncode}: {result.stderr.strip()[-1500:]}")
    return result.stdout


class GpuSampler:
    """nvidia-smi every 200 ms while a run lasts: memory used and utilisation of GPU 0."""

    def __init__(self, label):
        self.label, self.rows, self._process = label, [], None

    def __enter__(self):
        if not REHEARSAL:
            self._process = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=memory.used,utilization.gpu,power.draw", "--format=csv,noheader,nounits", "-lms", "200"],
                stdout=subprocess.PIPE, text=True)
            threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self):
        for line in self._process.stdout:
            try:
                self.rows.append([float(v) for v in line.split(",")])
            except ValueError:
                pass

    def __exit__(self, *_):
        if self._process:
            self._process.terminate()
            self._process.wait()
        if self.rows:
            summary["gpu_memory_peak_mib"][self.label] = max(r[0] for r in self.rows)
            busy = [r[1] for r in self.rows if r[1] > 0] or [0]
            summary["gpu_utilization_mean_pct"][self.label] = round(statistics.mean(busy), 1)
            with open(os.path.join(OUT, "nvidia-smi.csv"), "a") as f:
                f.writelines(f"{self.label},{','.join(str(v) for v in r)}\n" for r in self.rows)


def read_jsonl(split, limit):
    with open(os.path.join(DATA, "rotten_tomatoes", f"{split}.jsonl")) as f:
        return [json.loads(line)["text"] for line in f if line.strip()][:limit]


def max_abs_diff(a, b):
    if len(a) != len(b) or any(len(x) != len(y) for x, y in zip(a, b)):
        raise ValueError(f"shapes differ: {len(a)} rows against {len(b)}")
    return max(abs(x - y) for row_a, row_b in zip(a, b) for x, y in zip(row_a, row_b))


def loss_ends(metrics):
    """Mean training loss over the first and the last tenth of the optimizer steps."""
    losses = [p["loss"] for p in metrics["loss_curve"]]
    tenth = max(1, len(losses) // 10)
    return statistics.mean(losses[:tenth]), statistics.mean(losses[-tenth:]), len(losses)


if not REHEARSAL:
    import torch  # noqa: E402 - the rehearsal machine has no PyTorch
    import transformers  # noqa: E402


@step("environment")
def environment():
    lines = []
    if REHEARSAL:
        summary["device"] = "cpu (rehearsal): " + subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                                                                 capture_output=True, text=True).stdout.strip()
    else:
        smi = subprocess.run(["nvidia-smi"], capture_output=True, text=True).stdout
        lines.append(smi)
        summary["device"] = torch.cuda.get_device_name(0)
        summary["torch"] = torch.__version__
        summary["cuda"] = torch.version.cuda
        summary["torch_cxx11_abi"] = bool(torch._C._GLIBCXX_USE_CXX11_ABI)
        summary["transformers"] = transformers.__version__
    ldd = subprocess.run(["ldd", "-r", os.path.join(WORK, "app", "libLibTorchSharp.so")], capture_output=True, text=True)
    undefined = sorted({line.split("undefined symbol: ")[1].split()[0] for line in (ldd.stdout + ldd.stderr).splitlines() if "undefined symbol:" in line})
    # "=> not found" is a missing library; a weak version need that is absent (GLIBCXX_3.4.32, see
    # build/TorchSharpNative.targets) is only reported, and harmless.
    not_found = [line.strip() for line in ldd.stdout.splitlines() if "=> not found" in line]
    summary["libtorchsharp_weak_versions_absent"] = [line.strip() for line in (ldd.stdout + ldd.stderr).splitlines() if "weak version" in line]
    with open(os.path.join(OUT, "undefined-symbols.txt"), "w") as f:
        f.write(f"# ldd -r libLibTorchSharp.so with LD_LIBRARY_PATH={os.environ.get('LD_LIBRARY_PATH')}\n")
        f.writelines(line + "\n" for line in not_found + undefined)
    summary["libtorchsharp_undefined_symbols"] = len(undefined)
    summary["libtorchsharp_missing_libraries"] = not_found
    lines.append(ldd.stdout)
    # What the loader itself says (.NET's NativeLibrary.TryLoad keeps dlerror to itself): each library as TorchSharp
    # loads it, in a fresh process with no PyTorch imported.
    libraries = [os.path.join(WORK, "app", "libLibTorchSharp.so")] + ([] if REHEARSAL else ["libtorch_cuda.so"])
    probe = subprocess.run([sys.executable, "-c", "import ctypes, sys\nfor name in sys.argv[1:]:\n    ctypes.CDLL(name)\n    print('loaded', name)", *libraries],
                           capture_output=True, text=True)
    summary["dlopen"] = (probe.stdout + probe.stderr).strip()[-1500:]
    lines.append(summary["dlopen"])
    with open(os.path.join(OUT, "environment.txt"), "w") as f:
        f.write("\n".join(lines))
    if not_found:
        raise RuntimeError(f"libLibTorchSharp.so cannot find {not_found}")
    return {"undefined_symbols": len(undefined)}


# Under $EXPERIMENTGRID_HOME/models: a sweep may read models only from there (or from its checkpoints).
MODEL = os.path.join(ENV["EXPERIMENTGRID_HOME"], "models", "random-bert")


@step("weights")
def weights():
    """Seeded random BERT weights with MiniLM's config, saved as a Hugging Face directory both sides load."""
    if REHEARSAL:
        os.makedirs(os.path.dirname(MODEL), exist_ok=True)
        if not os.path.exists(MODEL):
            os.symlink(os.path.abspath(args.rehearsal_model), MODEL)
        return {"model": args.rehearsal_model, "note": "rehearsal: the imported MiniLM, since there is no transformers here"}
    config_dir = os.path.join(WORK, "data", "minilm-config")
    torch.manual_seed(0)
    config = transformers.BertConfig.from_pretrained(config_dir)
    transformers.BertModel(config).save_pretrained(MODEL)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        with open(os.path.join(config_dir, name), "rb") as source, open(os.path.join(MODEL, name), "wb") as target:
            target.write(source.read())
    return {"model": MODEL}


TEXTS = read_jsonl("test", 64)


def python_embeddings(texts):
    tokenizer = transformers.AutoTokenizer.from_pretrained(MODEL)
    model = transformers.BertModel.from_pretrained(MODEL, attn_implementation="eager").to("cuda").eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt").to("cuda")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1).cpu().tolist()


@step("a-parity")
def parity():
    ours = json.loads(grid("embed", "--model", MODEL, "--device", DEVICE, "--max-length", MAX_LENGTH, "-", stdin="\n".join(TEXTS)))
    if REHEARSAL:
        reference = subprocess.run([args.reference_grid, "embed", "--model", MODEL, "--device", "cpu", "--max-length", str(MAX_LENGTH), "-"],
                                   input="\n".join(TEXTS), capture_output=True, text=True, timeout=120)
        if reference.returncode != 0:
            raise RuntimeError(f"reference grid embed failed: {reference.stderr[-1500:]}")
        theirs, peer = json.loads(reference.stdout), "the normal CPU build's grid embed"
    else:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        theirs, peer = python_embeddings(TEXTS), f"transformers {transformers.__version__} BertModel, mean-pooled, normalised, fp32, TF32 off"
    diff = max_abs_diff(ours, theirs)
    summary["parity_max_abs_diff"] = diff
    if diff > TOLERANCE:
        raise RuntimeError(f"max abs difference {diff:.3g} exceeds {TOLERANCE}")
    return {"texts": len(TEXTS), "peer": peer}


CLASSIFIER = os.path.join(WORK, "runs", "classifier")


def train(task, label, *extra, out=None):
    arguments = ["train", "--task", task, "--model", MODEL, "--dataset", "rotten_tomatoes", "--device", DEVICE,
                 "--max-length", MAX_LENGTH, "--eval-limit", 256, "--test-split", "none", "--json", *extra]
    if out:
        arguments += ["--out", out]
    with GpuSampler(label):
        return json.loads(grid(*arguments, timeout=240))


@step("b-training", needs=60)
def training():
    detail = {}
    for task, extra in (("text-classification", ["--label-names", "neg,pos", "--learning-rate", "1e-4"]),
                        ("masked-lm", ["--learning-rate", "1e-4"])):
        metrics = train(task, f"train-{task}", "--train-limit", TRAIN_LIMIT, "--batch-size", 16, "--warmup-ratio", 0.1, *extra,
                        out=CLASSIFIER if task == "text-classification" else None)
        first, last, steps = loss_ends(metrics)
        summary["train_loss_first"][task], summary["train_loss_last"][task] = round(first, 4), round(last, 4)
        detail[task] = {"steps": steps, "samples_per_s": round(metrics["samples_per_second"], 1), "device": metrics["device"]}
        if not last < first:
            raise RuntimeError(f"{task}: the loss did not fall ({first:.4f} → {last:.4f} over {steps} steps)")
    return detail


@step("d-python-load", needs=20)
def python_load():
    if REHEARSAL:
        return {"skipped": "no transformers on the rehearsal machine"}
    texts = TEXTS[:32]
    ours = [p["logits"] for p in json.loads(grid("predict", "--model", CLASSIFIER, "--device", DEVICE, "--max-length", MAX_LENGTH, "--json", "-",
                                                  stdin="\n".join(texts)))]
    torch.backends.cuda.matmul.allow_tf32 = False
    tokenizer = transformers.AutoTokenizer.from_pretrained(CLASSIFIER)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(CLASSIFIER, attn_implementation="eager").to("cuda").eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt").to("cuda")
    with torch.no_grad():
        theirs = model(**batch).logits.float().cpu().tolist()
    diff = max_abs_diff(ours, theirs)
    summary["python_load_max_abs_diff"] = diff
    if diff > TOLERANCE:
        raise RuntimeError(f"logits differ by {diff:.3g} (tolerance {TOLERANCE})")
    return {"texts": len(texts), "labels": model.config.id2label}


def peer_samples_per_second(batch_size, precision):
    """A plain PyTorch + transformers loop with our settings: dynamic padding, AdamW with transformers' decay groups,
    linear decay, clipping at 1.0, loss.item() every step as ours logs it. Samples/s of the second epoch."""
    import random
    torch.backends.cuda.matmul.allow_tf32 = True  # our default on GPUs
    torch.backends.cudnn.allow_tf32 = True
    texts, labels = [], []
    with open(os.path.join(DATA, "rotten_tomatoes", "train.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            texts.append(row["text"])
            labels.append(row["label"])
    tokenizer = transformers.AutoTokenizer.from_pretrained(MODEL)
    encoded = tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]
    torch.manual_seed(42)
    model = transformers.BertForSequenceClassification.from_pretrained(MODEL, num_labels=2).to("cuda").train()
    decay = [p for n, p in model.named_parameters() if not (n.endswith(".bias") or "LayerNorm" in n)]
    no_decay = [p for n, p in model.named_parameters() if n.endswith(".bias") or "LayerNorm" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=2e-5)
    steps_per_epoch = (len(encoded) + batch_size - 1) // batch_size
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / (2 * steps_per_epoch)))
    rates = []
    for epoch in range(2):
        order = list(range(len(encoded)))
        random.Random(epoch).shuffle(order)
        torch.cuda.synchronize()
        began = time.perf_counter()
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            width = max(len(encoded[i]) for i in rows)
            ids = torch.tensor([encoded[i] + [0] * (width - len(encoded[i])) for i in rows], device="cuda")
            mask = (ids != 0).long()
            target = torch.tensor([labels[i] for i in rows], device="cuda")
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
                logits = model(input_ids=ids, attention_mask=mask).logits
            loss = torch.nn.functional.cross_entropy(logits.float(), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            loss.item()
        torch.cuda.synchronize()
        rates.append(len(order) / (time.perf_counter() - began))
    del model, optimizer
    torch.cuda.empty_cache()
    return rates[-1]


@step("c-speed", needs=60)
def speed():
    detail = {}
    for batch_size, precision in SPEED_SETTINGS:
        key = f"{precision}-b{batch_size}"
        if remaining() < 45:
            detail[key] = "skipped: budget"
            continue
        entry = summary["samples_per_s"].setdefault(key, {})
        limit = ["--train-limit", SPEED_TRAIN_LIMIT] if SPEED_TRAIN_LIMIT else []
        try:
            metrics = train("text-classification", f"speed-ours-{key}", "--label-names", "neg,pos", "--epochs", 2, "--batch-size", batch_size,
                            "--precision", precision, *limit)
            entry["ours"] = round(metrics["epochs"][1]["samples_per_second"], 1)
        except Exception as e:  # noqa: BLE001 - the peer still runs
            entry["ours_error"] = str(e)[:500]
        if REHEARSAL:
            entry["peer"] = None
        else:
            try:
                with GpuSampler(f"speed-peer-{key}"):
                    entry["peer"] = round(peer_samples_per_second(batch_size, precision), 1)
            except Exception as e:  # noqa: BLE001
                entry["peer_error"] = str(e)[:500]
        if entry.get("ours") and entry.get("peer"):
            entry["ours_over_peer"] = round(entry["ours"] / entry["peer"], 3)
        detail[key] = entry
        log(f"   {key}: {entry}")
    if not all("ours" in summary["samples_per_s"].get(f"{p}-b{b}", {}) for b, p in SPEED_SETTINGS):
        raise RuntimeError("some settings have no measurement of ours")
    return {"settings": len(SPEED_SETTINGS)}


@step("e-packing", needs=90)
def packing():
    """The same 4 small trials on one slot per GPU, then two slots sharing it (gpu:0x2): sweep wall time."""
    spec = os.path.join(WORK, "packing.yaml")
    with open(spec, "w") as f:
        f.write(f"""name: packing
trial:
  task: text-classification
  model: {MODEL}
  dataset: rotten_tomatoes
  label_names: [neg, pos]
  epochs: 1
  train_limit: {64 if REHEARSAL else 2048}
  eval_limit: 128
  test_split: none
  max_length: {MAX_LENGTH}
  batch_size: 16
grid:
  seed: [1, 2, 3, 4]
objective: {{ metric: f1, mode: max }}
max_concurrent_trials: 4
checkpoint_every: 0
""")
    one, two = ("cpu:1", "cpu:2") if REHEARSAL else ("gpu:0", "gpu:0x2")
    walls = {}
    for slots in (one, two):
        began = time.monotonic()
        with GpuSampler(f"packing-{slots}"):
            grid("sweep", "run", spec, "--slots", slots, "--state", os.path.join(WORK, "state", slots.replace(":", "-")), timeout=200)
        walls[slots] = round(time.monotonic() - began, 1)
    summary["packing"] = {"trials": 4, "wall_s": walls, "speedup": round(walls[one] / walls[two], 2)}
    return summary["packing"]


checks = ["environment", "a-parity", "b-training", "c-speed"] + ([] if REHEARSAL else ["d-python-load"])
summary["ok"] = all(summary["steps"].get(name, {}).get("ok") for name in checks)
summary["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
write_summary()
log(json.dumps({k: summary[k] for k in ("device", "parity_max_abs_diff", "train_loss_first", "train_loss_last", "samples_per_s",
                                        "python_load_max_abs_diff", "packing", "ok")}, indent=1))
sys.exit(0 if summary["ok"] else 1)
