#!/usr/bin/env python3
"""PyTorch peer of `earlyphase bench --suite training` (runner/tools/bench/pytorch.ts runs it).

Times whole SGD training steps of the same networks as our zoo (pytorch_models.py) with the same
optimiser settings as TRAINING_CASES, in every setting of pytorch_settings.py that this machine
supports (fp32 eager, TF32, autocast bf16/fp16, the three torch.compile modes), on CUDA when there
is a device and on the CPU otherwise. With --packs K1,K2,… it also times K models at once
(pytorch_packs.py: vmap in one process, K processes). Data is synthetic and already on the device:
a fixed pool of random batches (no loader, no augmentation, like the TF.js peer).

One JSON object per line on stdout:
  a setting that cannot run here: {"mode", "precision", "skipped": why}, once, before any row;
  per (model, mode, density) or (model, pack mode, K): precision, members (K), and
    latency: each step followed by a synchronize (median and best of --reps; not for procs),
    rounds_ms: --rounds rounds of --reps steps back to back, one synchronize at the end of each
    (ms/step of all `members` models), throughput_ms their median;
  a case that fails (torch.compile on an unsupported setup): a record with "error"; the run goes on.
Tracebacks go to stderr.

With --matmul N1,N2,… it times square fp32 torch.mm (cuBLAS, TF32 off) instead, the peer of
`bench --suite matmul --peer pytorch` (CUDA only): one record per size with the median and best
of --reps calls, each waited for (as ours are timed), plus the median of three rounds of --reps
calls back to back.
"""
import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import traceback

import torch

# The peer's modules sit beside it; pytorch_kernels.py imports MODELS and build_step from here.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_models import MODELS  # noqa: E402
from pytorch_settings import SETTINGS, SPARSE_SETTINGS, build_step, set_tf32, why_unsupported  # noqa: E402
import pytorch_packs as packs  # noqa: E402

PACK_SETTINGS = {
    "vmap": ("fp32", "K models in one process: stack_module_state + vmap"),
    "procs": ("fp32", "K processes at once, each eager fp32 with one model"),
}


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



def measure(step, sync, warmup, reps, rounds, min_warmup_s):
    """Latency (each step waited for) and `rounds` rounds of `reps` steps back to back.

    Warm-up lasts at least `warmup` steps and at least `min_warmup_s` after the first step (which
    compiles, autotunes, records CUDA graphs): as ours (training-timing.ts), because a GPU still
    ramping its clocks made the first timed case slow on the H200.
    """
    step(0)
    sync()
    i, start = 1, time.perf_counter()
    while i < warmup or time.perf_counter() - start < min_warmup_s:
        step(i)
        i += 1
    sync()
    latency = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step(i)
        sync()
        latency.append((time.perf_counter() - t0) * 1000)
        i += 1
    rounds_ms = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            loss = step(i)
            i += 1
        sync()
        rounds_ms.append((time.perf_counter() - t0) * 1000 / reps)
    return dict(latency_ms_median=statistics.median(latency), latency_ms_best=min(latency),
                rounds_ms=rounds_ms, throughput_ms=statistics.median(rounds_ms), loss=loss.item())


def device_info(device):
    if device.type == "cuda":
        return dict(torch=torch.__version__, cuda=torch.version.cuda, device=torch.cuda.get_device_name(0), driver=nvidia_driver())
    return dict(torch=torch.__version__, cuda=None, device="cpu", driver=None, threads=torch.get_num_threads())


def emit(record):
    print(json.dumps(record), flush=True)


def failed(record, e):
    if isinstance(e, BudgetSpent):  # not a failure of the setting: a skip line, like the cases after it
        emit(dict(record, skipped=str(e)))
        return
    traceback.print_exc(file=sys.stderr)
    record.update(error=f"{type(e).__name__}: {e}".splitlines()[0][:300])
    emit(record)


def reset_compiler():
    """Each compiled case starts from scratch, not from another's cache (torch >= 2.0 only)."""
    try:
        import torch._dynamo
    except ImportError:
        return
    torch._dynamo.reset()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=csv(str), default=list(MODELS))
    ap.add_argument("--modes", type=csv(str), default=list(SETTINGS), help=f"settings of one network (default all): {', '.join(SETTINGS)}")
    ap.add_argument("--densities", type=csv(float), default=[1.0])
    ap.add_argument("--packs", type=csv(int), default=[], help="K models at once, with each of --pack-modes")
    ap.add_argument("--pack-modes", type=csv(str), default=list(PACK_SETTINGS), help=f"with --packs (default all): {', '.join(PACK_SETTINGS)}")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of --reps steps back to back: the spread")
    ap.add_argument("--min-warmup-s", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--budget-s", type=float, default=0, help="start no case after this many seconds, and interrupt the one running then (0: no limit)")
    ap.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    ap.add_argument("--matmul", type=csv(int), default=None, help="square matmul sizes instead of training steps")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # a procs member: model name
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    bad = [m for m in args.models if m not in MODELS] + [m for m in args.modes if m not in SETTINGS] + \
        [m for m in args.pack_modes if m not in PACK_SETTINGS]
    if bad:
        ap.error(f"unknown model or mode: {', '.join(bad)} (models: {', '.join(MODELS)}; modes: {', '.join(SETTINGS)}; "
                 f"pack modes: {', '.join(PACK_SETTINGS)})")
    if args.rounds < 1 or args.reps < 1 or any(k < 1 for k in args.packs):
        ap.error("--rounds, --reps and --packs must be positive")
    cuda = torch.cuda.is_available() if args.device == "auto" else args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        ap.error("--device cuda: torch.cuda.is_available() is False")
    if args.matmul and not cuda:
        print("pytorch_peer: --matmul times cuBLAS: torch.cuda.is_available() is False", file=sys.stderr)
        sys.exit(2)
    device = torch.device("cuda" if cuda else "cpu")
    sync = torch.cuda.synchronize if cuda else (lambda: None)  # CPU ops return when done
    set_tf32(False)  # fp32 as ours; the TF32 row turns it on for itself
    torch.backends.cudnn.benchmark = True  # cuDNN may pick its fastest algorithm
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    if args.worker:
        torch.manual_seed(args.seed)
        step = build_step(args.worker, "eager", 1.0, args.batch, device)
        packs.worker(step, sync, max(args.warmup, 3), args.reps, args.min_warmup_s)
        return

    info = device_info(device)
    if args.matmul:
        peak = fp32_peak()
        for n in args.matmul:
            record = dict(matmul=n, **info, **peak)
            try:
                med, best, tput = measure_matmul(n, args.warmup, args.reps, device)
                record.update(reps=args.reps, latency_ms_median=med, latency_ms_best=best, throughput_ms=tput)
                emit(record)
            except Exception as e:
                failed(record, e)
        return

    # One line per setting this machine cannot run, before any row.
    skipped = {m: why_unsupported(m, device) for m in args.modes}
    if args.packs:
        skipped.update({m: packs.why_unsupported(m) for m in args.pack_modes})
    for m, why in skipped.items():
        if why:
            emit(dict(mode=m, precision=(SETTINGS.get(m) or PACK_SETTINGS[m])[0], skipped=why))

    # The order cases run in, so that a time budget cuts the least useful ones: setting by setting
    # (SETTINGS' order: fp32 first, max-autotune last) for every model, dense; then the sparse
    # rows; then the packs, K by K.
    modes = [m for m in SETTINGS if m in args.modes and not skipped[m]]
    cases = [(name, m, 1.0, 1) for m in modes for name in args.models if 1.0 in args.densities]
    cases += [(name, m, d, 1) for d in args.densities if d != 1 for m in modes if m in SPARSE_SETTINGS for name in args.models]
    cases += [(name, m, 1.0, k) for k in args.packs for name in args.models for m in args.pack_modes if not skipped[m]]
    deadline = time.monotonic() + args.budget_s if args.budget_s > 0 else float("inf")
    for name, mode, density, k in cases:
        precision = (SETTINGS.get(mode) or PACK_SETTINGS[mode])[0]
        record = dict(model=name, mode=mode, precision=precision, members=k, density=density, batch=args.batch, **info)
        if time.monotonic() > deadline:  # a line per case left out, not a killed run that loses them all
            emit(dict(record, skipped=f"the peer's time budget ({args.budget_s:g} s, --budget-s) was spent before this case"))
            continue
        try:
            with stop_at(deadline, args.budget_s):
                record.update(reps=args.reps, **run_case(args, name, mode, density, k, device, sync))
            emit(record)
        except Exception as e:  # one failed case (typically compile) must not hide the others
            failed(record, e)
        finally:
            set_tf32(False)
            if cuda:
                torch.cuda.empty_cache()


class BudgetSpent(Exception):
    pass


@contextlib.contextmanager
def stop_at(deadline, budget_s):
    """Interrupts a case still running at `deadline` (a max-autotune compile can take minutes), so
    the budget bounds the script's time and the bench's own rows never wait on it."""
    if deadline == float("inf") or not hasattr(signal, "SIGALRM"):
        yield
        return

    def spent(_sig, _frame):
        raise BudgetSpent(f"the peer's time budget ({budget_s:g} s, --budget-s) ended during this case")

    previous = signal.signal(signal.SIGALRM, spent)
    signal.setitimer(signal.ITIMER_REAL, max(deadline - time.monotonic(), 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_case(args, name, mode, density, k, device, sync):
    torch.manual_seed(0)
    if mode == "procs":
        # CPU workers share the cores: each gets its share of torch's threads.
        threads = 0 if device.type == "cuda" else max(1, torch.get_num_threads() // k)
        return packs.summary(packs.time_procs(os.path.abspath(__file__), name, k, device, args.batch, args.warmup, args.reps,
                                              args.rounds, args.min_warmup_s, threads))
    if mode == "vmap":
        return measure(packs.build_vmap_step(name, k, args.batch, device), sync, max(args.warmup, 3), args.reps, args.rounds, args.min_warmup_s)
    set_tf32(SETTINGS[mode][0] == "tf32")
    compiled = mode.startswith("compile")
    if compiled:
        reset_compiler()
    # Compilation, CUDA-graph recording and cuDNN autotuning happen in the first steps: more
    # untimed steps for the compiled modes (cudagraph trees record on the second call, replay after).
    step = build_step(name, mode, density, args.batch, device)
    return measure(step, sync, max(args.warmup, 5 if compiled else 3), args.reps, args.rounds, args.min_warmup_s)

if __name__ == "__main__":
    main()
