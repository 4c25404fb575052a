#!/usr/bin/env python3
"""cuDNN's GPU time per kernel for one training step of the PyTorch peer (torch.profiler).

The counterpart of `earlyphase profile` for the peer: the same model, optimiser and fp32 settings
as runner/tools/bench/pytorch_peer.py (eager mode), profiled over --steps steps after a warm-up. Prints
the CUDA kernels by total GPU time per step, so each of our kernels can be compared with cuDNN's
for the same op. Usage: python3 runner/tools/bench/pytorch_kernels.py [--model cifar_resnet_20] [--steps 10]
"""
import argparse
import os
import sys

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_peer import MODELS, build_step  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="cifar_resnet_20", choices=list(MODELS))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    step = build_step(args.model, "eager", 1.0, args.batch, torch.device("cuda"))
    for i in range(5):
        step(i)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for i in range(args.steps):
            step(i)
        torch.cuda.synchronize()
    rows = [e for e in prof.key_averages() if e.device_type == torch.autograd.DeviceType.CUDA]
    rows.sort(key=lambda e: -e.self_device_time_total)
    total = sum(e.self_device_time_total for e in rows) / args.steps / 1000
    print(f"{args.model} batch {args.batch}: {total:.3f} ms of GPU kernel time per step ({torch.__version__}, {torch.cuda.get_device_name(0)})")
    print(f"{'ms/step':>8} {'calls/step':>10}  kernel")
    for e in rows[:40]:
        print(f"{e.self_device_time_total / args.steps / 1000:8.3f} {e.count / args.steps:10.1f}  {e.key[:150]}")


if __name__ == "__main__":
    main()
