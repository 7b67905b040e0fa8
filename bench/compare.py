#!/usr/bin/env python3
"""unetcl (bench_unet) and PyTorch's CPU variants interleaved in one run.

  python3 bench/compare.py --bench BUILD/bench/bench_unet [--device cpu]
                           [--rounds 3] [--out bench/results] [--tag cpu]

Every PyTorch variant of bench/torch_unet.py (eager NCHW / channels_last,
frozen TorchScript with optimize_for_inference, both up-samplings; threads =
cores) is prepared and warmed once, its output checked against eager NCHW;
then each round runs bench_unet once (its own warm-up, --runs inference
images, --train-runs steps: the round's value is bench_unet's median) and
every PyTorch variant (--runs inference images and --train-runs steps, the
round's value is their median). The result per variant is the median over the
rounds; "PyTorch best" is the variant with the lowest median per task, named.

Every single run is kept as well, and the table also gives the minimum over
all runs of all rounds ("best of"), with the ratios on it: on a shared host
(these 2-core VMs share their physical cores with other machines) contention
only ever adds time, so the fastest run is the least disturbed estimate of
each side's speed, while a round's median can land on a busy moment for one
side and a quiet one for the other. The FMA peak bench_unet measures at the
start of each round is printed with the round, so the host's speed during the
run can be read off.
Writes OUT/TAG_compare.json and prints the table and the ratios.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torch_unet as T  # noqa: E402


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def pytorch_best(table, benches, key):
    """Per task, the fastest PyTorch variant of table {name: {task: ms}} and
    each bench's ratio to it (PyTorch time / unetcl time)."""
    best = {}
    for t in ("infer", "train"):
        c = {k: v[t] for k, v in table.items() if k.startswith("torch ") and v[t] is not None}
        if not c:
            continue
        k = min(c, key=c.get)
        best[t] = {"variant": k[len("torch "):], key: c[k], "ratio": {bn: c[k] / table[bn][t] for bn, _ in benches}}
    return best


def print_table(title, table, best, key, tag, benches):
    print(f"\n{title:74s}{'512 inference':>15s}{'572 train step':>16s}")
    for k, v in table.items():
        fi = f"{v['infer']:12.0f} ms" if v["infer"] is not None else f"{'':15s}"
        ft = f"{v['train']:13.0f} ms" if v["train"] is not None else ""
        print(f"{k[:74]:74s}{fi}{ft}")
    for t, label in (("infer", "512x512 inference"), ("train", "572 training step")):
        if t not in best:
            continue
        b = best[t]
        print(f"PyTorch best{tag} for {label}: {b['variant']} {b[key]:.0f} ms")
        for bn, _ in benches:
            print(f"    {bn} {table[bn][t]:.0f} ms: {b['ratio'][bn]:.2f}x = PyTorch best time / unetcl time")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, action="append",
                    help="bench_unet to run; NAME=PATH to label it; repeat to compare builds (the first is 'unetcl')")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--train-runs", type=int, default=1)
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--tag", default="cpu")
    ap.add_argument("--bench-args", default="", help="extra bench_unet arguments")
    ap.add_argument("--upconvs", default="shuffle,convt")
    ap.add_argument("--no-torch", action="store_true", help="only the bench_unet builds, interleaved")
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count())
    ups = tuple(a.upconvs.split(","))
    os.makedirs(a.out, exist_ok=True)
    env = dict(os.environ)
    env.pop("GLIBC_TUNABLES", None)  # unetcl as a user runs it (the allocator setting is PyTorch's)
    load = open("/proc/loadavg").read().split()[:3]
    print(f"== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {cpu_name()}, {os.cpu_count()} cores, "
          f"load {' '.join(load)}; PyTorch {torch.__version__} with {torch.get_num_threads()} threads", flush=True)

    print("== preparing PyTorch variants (trace, freeze, warm-up)", flush=True)
    infer, train, bad = {}, {}, {}
    ref = {}
    for name, prep in ({} if a.no_torch else T.infer_variants(ups)).items():
        try:
            run = prep()
            y = run()
            up = name.rsplit(", ", 1)[1]
            if up not in ref:
                ref[up] = y  # eager NCHW comes first for each up-sampling
            err = float((y - ref[up]).abs().max())
            if err > 1e-3:
                bad[name] = f"output differs from eager NCHW by {err:.2e}"
                continue
            infer[name] = run
            print(f"  inference {name}: ready (max |diff| to eager {err:.1e})", flush=True)
        except Exception as e:
            bad[name] = str(e).splitlines()[0][:200]
    for name, prep in ({} if a.no_torch else T.train_variants(ups)).items():
        try:
            train[name] = prep()
            print(f"  training {name}: ready", flush=True)
        except Exception as e:
            bad["train " + name] = str(e).splitlines()[0][:200]
    bad.update(T.unavailable())

    benches = []
    for i, b in enumerate(a.bench):
        name, path = b.split("=", 1) if "=" in b else ("unetcl" if i == 0 else f"unetcl#{i + 1}", b)
        benches.append((name, path))
    rounds = {name: {"infer": [], "train": []} for name, _ in benches}
    runs_all = {}  # every single run, for the best-of figures
    peaks = []
    for n in infer:
        rounds.setdefault("torch " + n, {"infer": [], "train": []})
    for n in train:
        rounds.setdefault("torch " + n, {"infer": [], "train": []})
    uinfo, uall = {}, {}
    for r in range(a.rounds):
        print(f"== round {r + 1}/{a.rounds} (load {' '.join(open('/proc/loadavg').read().split()[:3])})", flush=True)
        for bname, bpath in benches:
            ujson = os.path.join(a.out, f"{a.tag}_round_{bname.replace('/', '_')}.json")
            cmd = [bpath, "--device", a.device, "--no-cold", "--runs", str(a.runs), "--train-runs",
                   str(a.train_runs), "--json", ujson] + a.bench_args.split()
            subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
            u = json.load(open(ujson))["results"][0]
            uall[bname] = u
            if bname == benches[0][0]:
                uinfo = u
            rounds[bname]["infer"].append(u["warm_median_ms"])
            rounds[bname]["train"].append(u["train_step_median_ms"])
            ra = runs_all.setdefault(bname, {"infer": [], "train": []})
            ra["infer"] += u.get("infer_runs_ms", [u["warm_median_ms"]])
            ra["train"] += u.get("train_runs_ms", [u["train_step_median_ms"]])
            peaks.append(u.get("peak_gflops"))
            print(f"  {bname} {u['warm_median_ms']:.0f} / {u['train_step_median_ms']:.0f} ms "
                  f"(host FMA peak measured now: {u.get('peak_gflops', 0):.0f} GFLOP/s)", flush=True)
        for n, run in infer.items():
            ts = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                run()
                ts.append(1e3 * (time.perf_counter() - t0))
            rounds["torch " + n]["infer"].append(statistics.median(ts))
            runs_all.setdefault("torch " + n, {"infer": [], "train": []})["infer"] += ts
            print(f"  torch inference {n}: {statistics.median(ts):.0f} ms", flush=True)
        for n, run in train.items():
            ts = []
            for _ in range(a.train_runs):
                t0 = time.perf_counter()
                run()
                ts.append(1e3 * (time.perf_counter() - t0))
            rounds["torch " + n]["train"].append(statistics.median(ts))
            runs_all.setdefault("torch " + n, {"infer": [], "train": []})["train"] += ts
            print(f"  torch training {n}: {statistics.median(ts):.0f} ms", flush=True)

    med = {k: {t: (statistics.median(v[t]) if v[t] else None) for t in ("infer", "train")} for k, v in rounds.items()}
    best = pytorch_best(med, benches, "median_ms")
    mins = {k: {t: (min(v[t]) if v[t] else None) for t in ("infer", "train")} for k, v in runs_all.items()}
    best_min = pytorch_best(mins, benches, "min_ms")
    res = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpu": cpu_name(), "cores": os.cpu_count(),
           "unetcl_device": uinfo.get("device"), "unetcl_driver": uinfo.get("driver"),
           "pytorch": torch.__version__, "threads": torch.get_num_threads(), "rounds": a.rounds,
           "runs_per_round": a.runs, "train_runs_per_round": a.train_runs, "per_round_ms": rounds,
           "median_ms": med, "pytorch_best": best, "not_run": bad,
           "all_runs_ms": runs_all, "min_ms": mins, "pytorch_best_min": best_min,
           "host_fma_peak_gflops_per_round": peaks,
           "benches": dict(benches),
           "unetcl_memory": {bn: {k: u.get(k) for k in u if "bytes" in k or "peak" in k} for bn, u in uall.items()}}
    path = os.path.join(a.out, f"{a.tag}_compare.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    print_table(f"median over {a.rounds} interleaved rounds", med, best, "median_ms", "", benches)
    print_table("best of all runs (min; the least disturbed estimate on a shared host)", mins, best_min, "min_ms",
                " (min)", benches)
    pk = [p for p in peaks if p]
    if pk:
        print(f"host FMA peak measured by bench_unet per round: {min(pk):.0f} to {max(pk):.0f} GFLOP/s")
    for k, why in bad.items():
        print(f"not run: {k}: {why}")
    print(f"(unetcl on {uinfo.get('device')}; JSON: {path})")


if __name__ == "__main__":
    sys.exit(main())
