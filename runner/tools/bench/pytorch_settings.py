"""The PyTorch settings the peer (pytorch_peer.py) times for one network, each with its precision.

A performance engineer comparing against PyTorch runs more than fp32 eager: TF32 (PyTorch's default
for cuDNN convolutions), autocast with channels_last, and torch.compile in its three modes. Every
setting is listed here with the precision its arithmetic has, so a printed ratio can pair equal
precisions only (ours is fp32: TF32 and mixed rows are context). why_unsupported() says, in one
line, why a setting cannot run on this machine, so the bench prints a skip line instead of
silently leaving the row out.
"""
import contextlib
import importlib.util
import sys

import torch
import torch.nn.functional as F
from torch import nn

from pytorch_models import MODELS

POOL = 8  # distinct random batches, cycled: steps do not all see the same data

# setting -> (precision, what it is), in the order they are timed: the fp32 rows that carry our
# ratios first, max-autotune (minutes of autotuning for ResNet-20) last, so a spent time budget
# costs the least.
SETTINGS = {
    "eager": ("fp32", "eager, TF32 off"),
    "compile": ("fp32", "torch.compile default mode, TF32 off"),
    "compile-reduce-overhead": ("fp32", "torch.compile mode=reduce-overhead (CUDA graphs), TF32 off"),
    "eager-tf32": ("tf32", "eager, TF32 on in matmuls and cuDNN convolutions"),
    "autocast-bf16": ("bf16 mixed", "torch.autocast bf16, channels_last"),
    "autocast-fp16": ("fp16 mixed", "torch.autocast fp16, channels_last, GradScaler"),
    "compile-max-autotune": ("fp32", "torch.compile mode=max-autotune, TF32 off"),
}
# Settings timed at densities < 1 too: masked SGD differs from dense only by the mask multiply,
# so the other settings' sparse rows would say nothing their dense rows do not.
SPARSE_SETTINGS = ("eager", "compile")

AUTOCAST = {"autocast-bf16": torch.bfloat16, "autocast-fp16": torch.float16}
COMPILE_MODES = {"compile": "default", "compile-reduce-overhead": "reduce-overhead", "compile-max-autotune": "max-autotune"}


def set_tf32(on):
    """TF32 only where a row says so: fp32 rows must do the arithmetic ours does."""
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def why_unsupported(setting, device):
    """One line saying why `setting` cannot run here, or None when it can."""
    cuda = device.type == "cuda"
    if setting == "eager-tf32":
        if not cuda:
            return "TF32 is a CUDA setting (no CUDA device here)"
        major, minor = torch.cuda.get_device_capability(device)
        if major < 8:
            return f"TF32 needs compute capability 8.0 or newer (this GPU has {major}.{minor})"
    if setting == "autocast-bf16" and cuda and not torch.cuda.is_bf16_supported():
        return "this GPU has no bf16"
    if setting == "autocast-fp16" and not cuda:
        # CPU autocast took float16 only in torch 2.x, and GradScaler is a CUDA tool.
        return "fp16 autocast with GradScaler is a CUDA setting (no CUDA device here)"
    if setting in COMPILE_MODES:
        if not hasattr(torch, "compile"):
            return f"torch.compile needs torch 2.0 or newer (this is {torch.__version__})"
        if setting == "compile-reduce-overhead" and not cuda:
            return "reduce-overhead records CUDA graphs: CUDA only (no CUDA device here)"
        return compile_unavailable(cuda)
    return None


def compile_unavailable(cuda):
    """Why torch.compile cannot work here although torch has it, or None (what would otherwise
    fail at the first step of every compiled case, one error line each)."""
    try:
        import torch._dynamo as dynamo
    except Exception as e:  # noqa: BLE001 - any import failure means no compile
        return f"torch.compile is unavailable: {type(e).__name__}: {e}".splitlines()[0][:200]
    supported = getattr(dynamo, "is_dynamo_supported", None) or getattr(getattr(dynamo, "eval_frame", None), "is_dynamo_supported", None)
    if supported is not None and not supported():
        return f"torch.compile does not support this Python ({sys.version.split()[0]}) with torch {torch.__version__}"
    if cuda and importlib.util.find_spec("triton") is None:
        return "torch.compile's inductor needs triton for CUDA, and it is not installed"
    return None


def grad_scaler():
    # torch.amp.GradScaler("cuda") replaced torch.cuda.amp.GradScaler (deprecated from 2.4 on).
    if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()


def build_step(name, mode, density, batch, device, pool=POOL):
    """Returns step(i) -> loss tensor: one full SGD step of setting `mode` on pool batch i % pool.

    For density < 1 the conv and linear weights are multiplied by a fixed random 0/1 mask after
    every step, as OpenLTH's PrunedModel does, so the work matches our masked SGD.
    """
    make, (c, h, w), sgd = MODELS[name]
    model = make().to(device).train()
    half = AUTOCAST.get(mode)
    # channels_last is what autocast users add for convolutions on tensor cores (NHWC kernels).
    fmt = torch.channels_last if half is not None else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), **sgd)
    # Conv and linear weights are the prunable tensors, as in our zoo (biases and BN stay dense).
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    masks = [(torch.rand_like(wt) < density).float() for wt in weights] if density < 1 else []
    with torch.no_grad():
        for wt, m in zip(weights, masks):
            wt.mul_(m)
    images = [torch.randn(batch, c, h, w, device=device).contiguous(memory_format=fmt) for _ in range(pool)]
    labels = torch.randint(0, 10, (pool, batch), device=device)
    scaler = grad_scaler() if mode == "autocast-fp16" else None

    def update():
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        if masks:
            with torch.no_grad():
                torch._foreach_mul_(weights, masks)

    forward = model
    compile_mode = COMPILE_MODES.get(mode)
    if compile_mode is not None:
        forward = torch.compile(model, mode=compile_mode)
        update = torch.compile(update)  # the optimizer in default mode: its mode is the model's business
    # CUDA-graph modes must be told where a training iteration starts (torch >= 2.1), or a replay
    # may overwrite tensors the previous step still holds.
    compiler = getattr(torch, "compiler", None)
    mark = getattr(compiler, "cudagraph_mark_step_begin", None) if compile_mode in ("reduce-overhead", "max-autotune") else None

    def step(i):
        if mark is not None:
            mark()
        opt.zero_grad(set_to_none=True)
        ctx = torch.autocast(device.type, dtype=half) if half is not None else contextlib.nullcontext()
        with ctx:
            loss = F.cross_entropy(forward(images[i % pool]), labels[i % pool])
        (scaler.scale(loss) if scaler is not None else loss).backward()
        update()
        return loss

    return step
