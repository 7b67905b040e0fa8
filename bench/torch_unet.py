#!/usr/bin/env python3
"""The paper's U-Net in PyTorch, timed like bench_unet: 512x512 inference
(one 700x700 tile, output 516x516 cropped to 512) and a 572x572 training step
(forward, weighted cross-entropy, backward, SGD with momentum 0.99).

  python3 bench/torch_unet.py [--device cpu|cuda] [--threads N] [--runs N]
                              [--upconv convt|shuffle] [--tf32 on|off] [--base B] [--json FILE]
  python3 bench/torch_unet.py --variants [--threads N] [--runs N] [--json FILE]

--device cuda: --tf32 on lets cuDNN and cuBLAS use TF32 (PyTorch's default for
convolutions), off keeps FP32 arithmetic (what unetcl does); cuDNN's
autotuner (torch.backends.cudnn.benchmark) is on, as a speed-minded user sets.

--upconv shuffle computes each 2x2 up-convolution as a 1x1 convolution to
4x the channels followed by a pixel shuffle (the same function, faster on
CPUs). For the CPU "at its best" numbers run with
GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736
(bench/compare.sh does).

--variants times every variant a performance-minded PyTorch user would try
on a CPU (all with threads = cores and torch.inference_mode for inference)
and names the fastest ("PyTorch best") per task:
  inference: eager NCHW, eager channels_last, TorchScript frozen
             (torch.jit.trace + torch.jit.freeze +
             torch.jit.optimize_for_inference: oneDNN layouts, conv+ReLU
             fused) with NCHW and with channels_last input, each with the
             pixel-shuffle and the transposed-convolution up-sampling;
  training:  eager NCHW and channels_last, each with both up-samplings.
torch.compile needs PyTorch >= 2.0 (Debian's python3-torch here is 1.13):
it is listed as unavailable when torch has no torch.compile.
bench/compare.py imports the variants from here and interleaves them with
bench_unet round by round.
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Up(nn.Module):
    def __init__(self, cin, cout, mode):
        super().__init__()
        self.mode = mode
        if mode == "convt":
            self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2)
        else:
            self.up = nn.Conv2d(cin, cout * 4, 1)
            self.cout = cout

    def forward(self, x):
        if self.mode == "convt":
            return F.relu(self.up(x))
        return F.relu(F.pixel_shuffle(self.up(x), 2))


class UNet(nn.Module):
    def __init__(self, cin=1, classes=2, depth=5, base=64, upconv="convt"):
        super().__init__()
        ch = [base * 2 ** i for i in range(depth)]
        self.enc = nn.ModuleList()
        c = cin
        for o in ch:
            self.enc.append(nn.Sequential(nn.Conv2d(c, o, 3), nn.ReLU(inplace=True), nn.Conv2d(o, o, 3),
                                          nn.ReLU(inplace=True)))
            c = o
        self.ups = nn.ModuleList()
        self.dec = nn.ModuleList()
        for o in reversed(ch[:-1]):
            self.ups.append(Up(c, o, upconv))
            self.dec.append(nn.Sequential(nn.Conv2d(2 * o, o, 3), nn.ReLU(inplace=True), nn.Conv2d(o, o, 3),
                                          nn.ReLU(inplace=True)))
            c = o
        self.out = nn.Conv2d(c, classes, 1)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        skips = []
        for i, e in enumerate(self.enc):
            x = e(x)
            if i < len(self.enc) - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        x = self.drop(x)
        for up, dec in zip(self.ups, self.dec):
            u = up(x)
            s = skips.pop()
            dy, dx = (s.shape[2] - u.shape[2]) // 2, (s.shape[3] - u.shape[3]) // 2
            x = dec(torch.cat([s[:, :, dy:dy + u.shape[2], dx:dx + u.shape[3]], u], 1))
        return self.out(x)


def sync(dev):
    if dev == "cuda":
        torch.cuda.synchronize()


# ---- variants (bench/compare.py, --variants) ---------------------------------

def crop_softmax(y):
    return y[:, :, :512, :512].softmax(1)


def make_net(upconv, seed=0):
    torch.manual_seed(seed)
    return UNet(upconv=upconv)


def in_layout(net, x, cl):
    """The network and its input in channels_last (cl) or as they are (NCHW)."""
    if cl:
        return net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    return net, x


def infer_variants(upconvs=("shuffle", "convt")):
    """name -> (prepare, run): prepare() builds and warms the variant and
    returns a zero-argument callable that runs one 512x512 inference."""
    out = {}
    x = torch.randn(1, 1, 700, 700)

    def eager(upconv, cl):
        def prep():
            net, xi = in_layout(make_net(upconv).eval(), x, cl)

            def run():
                with torch.inference_mode():
                    return crop_softmax(net(xi))
            run()
            return run
        return prep

    def script(upconv, cl):
        def prep():
            net, xi = in_layout(make_net(upconv).eval(), x, cl)
            with torch.no_grad():
                ts = torch.jit.trace(net, xi)
                ts = torch.jit.freeze(ts)
                ts = torch.jit.optimize_for_inference(ts)

            def run():
                with torch.inference_mode():
                    return crop_softmax(ts(xi))
            for _ in range(3):  # the profiling executor specialises on the first runs
                run()
            return run
        return prep

    for up in upconvs:
        out[f"eager NCHW, {up}"] = eager(up, False)
        out[f"eager channels_last, {up}"] = eager(up, True)
        out[f"TorchScript frozen+optimize_for_inference NCHW, {up}"] = script(up, False)
        out[f"TorchScript frozen+optimize_for_inference channels_last, {up}"] = script(up, True)
    return out


def train_variants(upconvs=("shuffle", "convt")):
    """name -> prepare; prepare() returns a callable doing one training step."""
    out = {}
    xt = torch.randn(1, 1, 572, 572)
    lab = torch.randint(0, 2, (1, 388, 388))
    w = torch.rand(1, 388, 388) + 0.5

    def eager(upconv, cl):
        def prep():
            net, xi = in_layout(make_net(upconv).train(), xt, cl)
            opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.99)

            def run():
                opt.zero_grad(set_to_none=True)
                loss = (F.cross_entropy(net(xi), lab, reduction="none") * w).mean()
                loss.backward()
                opt.step()
                return loss.item()
            run()
            run()  # two untimed steps, as bench_unet
            return run
        return prep

    for up in upconvs:
        out[f"eager NCHW, {up}"] = eager(up, False)
        out[f"eager channels_last, {up}"] = eager(up, True)
    return out


def unavailable():
    """Variants that cannot run here, with the reason."""
    r = {}
    if not hasattr(torch, "compile"):
        r["torch.compile"] = f"not in PyTorch {torch.__version__} (needs >= 2.0)"
    return r


def time_variants(variants, runs):
    res = {}
    for name, prep in variants.items():
        try:
            run = prep()
        except Exception as e:  # a variant this torch cannot do: reported, not fatal
            res[name] = {"error": str(e).splitlines()[0][:200]}
            continue
        ts = []
        for _ in range(runs):
            t0 = time.perf_counter()
            run()
            ts.append(time.perf_counter() - t0)
        res[name] = {"median_ms": 1e3 * statistics.median(ts), "min_ms": 1e3 * min(ts), "runs": runs}
        print(f"  {name:64s} {res[name]['median_ms']:8.0f} ms", file=sys.stderr, flush=True)
    return res


def best_of(res):
    ok = {k: v for k, v in res.items() if "median_ms" in v}
    if not ok:
        return None, None
    k = min(ok, key=lambda n: ok[n]["median_ms"])
    return k, ok[k]["median_ms"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--train-runs", type=int, default=3)
    ap.add_argument("--upconv", default="convt", choices=["convt", "shuffle"])
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--tf32", default="on", choices=["on", "off"])
    ap.add_argument("--base", type=int, default=64)  # base channels (64: the paper's; smaller: script checks)
    ap.add_argument("--variants", action="store_true",
                    help="time every CPU variant and name the fastest per task")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.variants:
        import os
        if not a.threads:
            torch.set_num_threads(os.cpu_count())
        res = {"framework": f"pytorch {torch.__version__}", "threads": torch.get_num_threads(),
               "unavailable": unavailable()}
        print("inference 512x512:", file=sys.stderr)
        res["infer"] = time_variants(infer_variants(), a.runs)
        if not a.no_train:
            print("training step 572:", file=sys.stderr)
            res["train"] = time_variants(train_variants(), a.train_runs)
        for task in ("infer", "train"):
            if task in res:
                name, ms = best_of(res[task])
                res[f"{task}_best"] = {"variant": name, "median_ms": ms}
        print(json.dumps(res))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(res, f, indent=1)
        return 0
    dev = a.device
    torch.manual_seed(0)
    net = UNet(base=a.base, upconv=a.upconv).to(dev)
    res = {"framework": f"pytorch {torch.__version__}", "device": dev, "threads": torch.get_num_threads(),
           "upconv": a.upconv, "base": a.base}
    if dev == "cuda":
        res["device_name"] = torch.cuda.get_device_name(0)
        torch.backends.cudnn.allow_tf32 = a.tf32 == "on"
        torch.backends.cuda.matmul.allow_tf32 = a.tf32 == "on"
        torch.backends.cudnn.benchmark = True
        res["tf32"] = a.tf32
        res["cudnn_benchmark"] = True
    net.eval()
    x = torch.randn(1, 1, 700, 700, device=dev)
    with torch.no_grad():
        t0 = time.perf_counter()
        y = net(x)[:, :, :512, :512].softmax(1).cpu()
        sync(dev)
        res["cold_ms"] = 1e3 * (time.perf_counter() - t0)
        ts = []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            y = net(x)[:, :, :512, :512].softmax(1).cpu()
            sync(dev)
            ts.append(time.perf_counter() - t0)
    assert y.shape == (1, 2, 512, 512)
    res["infer_512_median_ms"] = 1e3 * statistics.median(ts)
    res["infer_512_min_ms"] = 1e3 * min(ts)
    if not a.no_train:
        net.train()
        opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.99)
        xt = torch.randn(1, 1, 572, 572, device=dev)
        lab = torch.randint(0, 2, (1, 388, 388), device=dev)
        w = torch.rand(1, 388, 388, device=dev) + 0.5
        ts = []
        for i in range(a.train_runs + 1):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = (F.cross_entropy(net(xt), lab, reduction="none") * w).mean()
            loss.backward()
            opt.step()
            loss.item()
            sync(dev)
            if i:
                ts.append(time.perf_counter() - t0)
        res["train_572_median_ms"] = 1e3 * statistics.median(ts)
    print(json.dumps(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
