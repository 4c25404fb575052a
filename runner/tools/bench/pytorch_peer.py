#!/usr/bin/env python3
"""PyTorch peer of `earlyphase bench --suite training` (runner/tools/bench/pytorch.ts runs it).

Times whole SGD training steps of the same networks as our zoo (src/nn/zoo.ts) with the same
optimiser settings as TRAINING_CASES in runner/tools/bench/training.ts, in fp32 with TF32 off so the
arithmetic matches ours. Data is synthetic and already on the GPU: a fixed pool of random batches
(no loader, no augmentation, like the TF.js peer). For --density < 1 the conv and linear weights
are multiplied by a fixed random 0/1 mask after every step, as OpenLTH's PrunedModel does, so the
work matches our masked SGD.

Per (model, mode, density) it prints one JSON object per line on stdout:
  latency: each step followed by torch.cuda.synchronize() (median and best of --reps);
  throughput: --reps steps back to back and one synchronize at the end (ms/step).
A mode that fails (torch.compile on an unsupported setup) prints a record with "error" instead and
the run goes on. Tracebacks go to stderr.

With --matmul N1,N2,… it times square fp32 torch.mm (cuBLAS, TF32 off) instead, the peer of
`bench --suite matmul --peer pytorch`: one record per size with the median and best of --reps
calls, each waited for (as ours are timed), plus the median of three rounds of --reps calls back
to back.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
import traceback

import torch
import torch.nn.functional as F
from torch import nn

POOL = 8  # distinct random batches, cycled: steps do not all see the same data


class BasicBlock(nn.Module):
    """OpenLTH cifar_resnet block: conv3x3-BN-ReLU-conv3x3-BN plus shortcut, then ReLU."""

    def __init__(self, cin, cout, down):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2 if down else 1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if down or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout))
        else:
            self.shortcut = nn.Sequential()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResnet(nn.Module):
    """cifar_resnet_20: conv3x3 16 + BN + ReLU, 3 stages of n blocks (16/32/64), GAP, linear to 10."""

    def __init__(self, n=3, width=16):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        blocks, cin = [], width
        for stage, cout in enumerate([width, 2 * width, 4 * width]):
            for i in range(n):
                blocks.append(BasicBlock(cin, cout, down=stage > 0 and i == 0))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, 10)

    def forward(self, x):
        out = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


def lenet_300_100():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))


# name -> (constructor, input shape C,H,W, SGD settings of TRAINING_CASES)
MODELS = {
    "mnist_lenet_300_100": (lenet_300_100, (1, 28, 28), dict(lr=0.1, momentum=0.0, weight_decay=0.0)),
    "cifar_resnet_20": (CifarResnet, (3, 32, 32), dict(lr=0.1, momentum=0.9, weight_decay=1e-4)),
}


def build_step(name, mode, density, batch, device):
    """Returns step(i) -> loss tensor, doing one full SGD step on pool batch i % POOL."""
    make, (c, h, w), sgd = MODELS[name]
    model = make().to(device).train()
    opt = torch.optim.SGD(model.parameters(), **sgd)
    # Conv and linear weights are the prunable tensors, as in our zoo (biases and BN stay dense).
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    masks = [(torch.rand_like(wt) < density).float() for wt in weights] if density < 1 else []
    with torch.no_grad():
        for wt, m in zip(weights, masks):
            wt.mul_(m)
    images = torch.randn(POOL, batch, c, h, w, device=device)
    labels = torch.randint(0, 10, (POOL, batch), device=device)

    def update():
        opt.step()
        if masks:
            with torch.no_grad():
                torch._foreach_mul_(weights, masks)

    forward = model
    if mode == "compile":
        forward = torch.compile(model)
        update = torch.compile(update)

    def step(i):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(forward(images[i % POOL]), labels[i % POOL])
        loss.backward()
        update()
        return loss

    return step


def measure(step, warmup, reps):
    i = 0
    for _ in range(warmup):
        step(i)
        i += 1
    torch.cuda.synchronize()
    latency = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step(i)
        torch.cuda.synchronize()
        latency.append((time.perf_counter() - t0) * 1000)
        i += 1
    t0 = time.perf_counter()
    for _ in range(reps):
        loss = step(i)
        i += 1
    torch.cuda.synchronize()
    throughput = (time.perf_counter() - t0) * 1000 / reps
    return statistics.median(latency), min(latency), throughput, loss.item()


def measure_matmul(n, warmup, reps, device):
    g = torch.Generator(device=device).manual_seed(n)
    a = torch.rand(n, n, device=device, generator=g) * 2 - 1
    b = torch.rand(n, n, device=device, generator=g) * 2 - 1
    c = torch.empty(n, n, device=device)
    step = lambda _i: torch.mm(a, b, out=c)
    for _ in range(max(warmup, 3)):
        step(0)
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step(0)
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    # Back to back: the median of three rounds of `reps` calls and one synchronize, as ours
    # (runner/tools/bench/time.ts timeBackToBack).
    rounds = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            step(0)
        torch.cuda.synchronize()
        rounds.append((time.perf_counter() - t0) * 1000 / reps)
    return statistics.median(times), min(times), statistics.median(rounds)


def nvidia_driver():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


# FP32 lanes (FMA units) per SM by compute capability, from NVIDIA's CUDA programming guide
# (arithmetic instruction throughput table); capabilities not listed give no peak.
FP32_LANES_PER_SM = {(7, 0): 64, (7, 5): 64, (8, 0): 64, (8, 6): 128, (8, 7): 128, (8, 9): 128,
                     (9, 0): 128, (10, 0): 128, (12, 0): 128}


def fp32_peak():
    """The GPU's FP32 peak: SMs x FP32 lanes x 2 flops (an FMA) x the SM's top clock from nvidia-smi."""
    props = torch.cuda.get_device_properties(0)
    lanes = FP32_LANES_PER_SM.get((props.major, props.minor))
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=clocks.max.sm", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=20)
        mhz = float(out.stdout.strip().splitlines()[0]) if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError, ValueError):
        mhz = None
    if lanes is None or mhz is None:
        return {}
    sms = props.multi_processor_count
    return dict(fp32_peak_tflops=sms * lanes * 2 * mhz * 1e6 / 1e12, sms=sms, fp32_lanes_per_sm=lanes, sm_clock_max_mhz=mhz)


def csv(kind):
    return lambda s: [kind(x) for x in s.split(",") if x.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=csv(str), default=list(MODELS))
    ap.add_argument("--modes", type=csv(str), default=["eager", "compile"])
    ap.add_argument("--densities", type=csv(float), default=[1.0])
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--matmul", type=csv(int), default=None, help="square matmul sizes instead of training steps")
    args = ap.parse_args()
    bad = [m for m in args.models if m not in MODELS] + [m for m in args.modes if m not in ("eager", "compile")]
    if bad:
        ap.error(f"unknown model or mode: {', '.join(bad)} (models: {', '.join(MODELS)}; modes: eager, compile)")
    if not torch.cuda.is_available():
        print("pytorch_peer: torch.cuda.is_available() is False", file=sys.stderr)
        sys.exit(2)

    # fp32 as ours: no TF32 in matmuls or convolutions; cuDNN may pick its fastest fp32 algorithm.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    device = torch.device("cuda")
    info = dict(torch=torch.__version__, cuda=torch.version.cuda, device=torch.cuda.get_device_name(0), driver=nvidia_driver())

    if args.matmul:
        peak = fp32_peak()
        for n in args.matmul:
            record = dict(matmul=n, **info, **peak)
            try:
                med, best, tput = measure_matmul(n, args.warmup, args.reps, device)
                record.update(reps=args.reps, latency_ms_median=med, latency_ms_best=best, throughput_ms=tput)
            except Exception as e:
                traceback.print_exc(file=sys.stderr)
                record.update(error=f"{type(e).__name__}: {e}".splitlines()[0][:300])
            print(json.dumps(record), flush=True)
        return

    for name in args.models:
        for mode in args.modes:
            for density in args.densities:
                record = dict(model=name, mode=mode, density=density, batch=args.batch, **info)
                torch.manual_seed(0)
                torch._dynamo.reset()  # each case compiles from scratch, not against another's cache
                try:
                    # Compilation and cuDNN autotuning happen in the first steps: never fewer than 3 untimed.
                    med, best, tput, loss = measure(build_step(name, mode, density, args.batch, device), max(args.warmup, 3), args.reps)
                    record.update(reps=args.reps, latency_ms_median=med, latency_ms_best=best, throughput_ms=tput, loss=loss)
                except Exception as e:  # one failed case (typically compile) must not hide the others
                    traceback.print_exc(file=sys.stderr)
                    record.update(error=f"{type(e).__name__}: {e}".splitlines()[0][:300])
                print(json.dumps(record), flush=True)
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
