"""K networks at once in PyTorch, the peers of our packs (`bench --suite training --pack K`).

Two ways a PyTorch user trains K small models of one architecture together, both fp32 eager with
TF32 off (the precision of ours):
  vmap:  one process; torch.func.stack_module_state stacks the K models' parameters and buffers,
         vmap runs the K forward passes as one batched call, one backward and one SGD step update
         all K (SGD is elementwise, so SGD over the stacked tensors is K independent SGDs). On torch
         1.13, functorch.combine_state_for_ensemble + functorch.vmap do the same.
  procs: K processes, each training one model, started together and timed as one: the parent
         says "go" to all K, and a round ends when the last one has done its steps.
Both report ms per step of all K models (each model one step), the unit of our pack's ms/step.
"""
import copy
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from pytorch_models import MODELS

# Batches per pack cycled through: K × batch images each, so fewer than the single-model pool.
PACK_POOL = 2


def vmap_api():
    """(stack(models) -> (fmodel(params, buffers, x), params, buffers), vmap), or None."""
    try:
        from torch.func import functional_call, stack_module_state, vmap
    except ImportError:
        pass
    else:
        def stack(models):
            params, buffers = stack_module_state(models)
            base = copy.deepcopy(models[0]).to("meta")  # the shape of the call; the tensors come stacked
            return (lambda p, b, x: functional_call(base, (p, b), (x,))), params, buffers
        return stack, vmap
    try:
        from functorch import combine_state_for_ensemble, vmap
    except ImportError:
        return None
    return combine_state_for_ensemble, vmap


def why_unsupported(setting):
    if setting == "vmap" and vmap_api() is None:
        return f"vmap of K models needs torch.func (torch 2.0 or newer) or functorch (this is torch {torch.__version__} without it)"
    return None


def leaves(tree):
    """Stacked parameters as leaves that autograd fills: a dict (torch.func) or a tuple (functorch)."""
    if isinstance(tree, dict):
        return {k: v.detach().requires_grad_() for k, v in tree.items()}
    return tuple(v.detach().requires_grad_() for v in tree)


def build_vmap_step(name, k, batch, device):
    """Returns step(i) -> mean loss: one SGD step of all K models on pack batch i % PACK_POOL."""
    make, (c, h, w), sgd = MODELS[name]
    models = [make().to(device).train() for _ in range(k)]
    stack, vmap = vmap_api()
    fmodel, params, buffers = stack(models)
    params = leaves(params)
    opt = torch.optim.SGD(list(params.values()) if isinstance(params, dict) else list(params), **sgd)
    images = torch.randn(PACK_POOL, k, batch, c, h, w, device=device)
    labels = torch.randint(0, 10, (PACK_POOL, k, batch), device=device)
    # BN's running statistics are stacked buffers updated in place under vmap: each model its own.
    batched = vmap(lambda p, b, x, y: F.cross_entropy(fmodel(p, b, x), y))

    def step(i):
        opt.zero_grad(set_to_none=True)
        losses = batched(params, buffers, images[i % PACK_POOL], labels[i % PACK_POOL])
        losses.sum().backward()  # the models share nothing: each gets its own loss's gradient
        opt.step()
        return losses.mean()

    return step


def _expect(worker, want):
    line = worker.stdout.readline()
    if line.strip() != want:
        raise RuntimeError(f"a worker process said {line.strip()!r} instead of {want!r} (its stderr is above)")


def time_procs(script, name, k, device, batch, warmup, reps, rounds, min_warmup_s, threads):
    """ms per step of all K models over each round, with K worker processes (pytorch_peer.py --worker)."""
    cmd = [sys.executable, script, "--worker", name, "--batch", str(batch), "--warmup", str(warmup),
           "--reps", str(reps), "--min-warmup-s", str(min_warmup_s), "--threads", str(threads), "--device", device.type]
    workers = [subprocess.Popen(cmd + ["--seed", str(i)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
               for i in range(k)]
    try:
        for wk in workers:  # each has built its model and warmed up
            _expect(wk, "ready")
        out = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            for wk in workers:
                wk.stdin.write("go\n")
                wk.stdin.flush()
            for wk in workers:
                _expect(wk, "done")
            out.append((time.perf_counter() - t0) * 1000 / reps)
        return out
    finally:
        for wk in workers:
            try:
                wk.stdin.close()  # end of input: the worker exits
            except OSError:
                pass
        # A worker mid-round ends after its steps; one that does not within 30 s (all together) is killed.
        end = time.monotonic() + 30
        for wk in workers:
            try:
                wk.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                wk.kill()
                wk.wait()


def worker(step, sync, warmup, reps, min_warmup_s):
    """A --worker process: warm up, say "ready", then per "go" line run `reps` steps and say "done"."""
    i = 0
    start = time.perf_counter()
    while i < warmup or time.perf_counter() - start < min_warmup_s:
        step(i)
        i += 1
    sync()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        for _ in range(reps):
            step(i)
            i += 1
        sync()
        print("done", flush=True)


def summary(rounds_ms):
    return dict(rounds_ms=rounds_ms, throughput_ms=statistics.median(rounds_ms))
