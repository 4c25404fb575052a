#!/bin/bash
# The PyTorch peer's CUDA paths in one short device call (they cannot run on the CPU machines):
#   bash .gpu/remote.sh bash runner/tools/bench/pytorch-gpu-check.sh OUTDIR
# 1. The script alone on LeNet-300-100 with tiny settings: every setting (eager, TF32, autocast
#    bf16/fp16, the three torch.compile modes) and vmap / K processes for K = 2, 4 each run once on
#    CUDA, so a broken path shows as an error line here and not in a long bench (about 3 minutes,
#    mostly compiling).
# 2. `bench --suite training --models resnet --peer pytorch`: both sides, the rows and ratios of
#    docs/performance.md, with the peer's budget inside the step's limit.
# Under 10 minutes in all; OUTDIR/summary.txt lists each step's exit code and time.
set -u
out=${1:?usage: runner/tools/bench/pytorch-gpu-check.sh OUTDIR}
mkdir -p "$out"
py=${EARLYPHASE_PYTHON:-python3}
source "$(dirname "$0")/../gpu-step.sh"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/summary.txt" 2>&1
"$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' >> "$out/summary.txt" 2>&1
step peer 240 "$py" runner/tools/bench/pytorch_peer.py --models mnist_lenet_300_100 --packs 2,4 --warmup 1 --reps 3 --min-warmup-s 0 --budget-s 200
step bench 330 env EARLYPHASE_PYTORCH_BUDGET_S=200 node runner/earlyphase.mjs bench --suite training --models resnet --peer pytorch --warmup 5 --reps 20
