#!/bin/bash
# Everything worth measuring on a lent GPU machine, in one call (device time is scarce):
#   bash .gpu/remote.sh bash runner/gpu-suite.sh OUTDIR
# (after `bash ../shared/gpu/pack.sh` here; see README "Running on a GPU"). Each step has its own
# time limit and writes its own log under OUTDIR, so one failing step never hides the others.
set -u
out=${1:?usage: runner/gpu-suite.sh OUTDIR}
mkdir -p "$out"
cli="node runner/earlyphase.mjs"
step() { # step NAME LIMIT_S CMD... : runs CMD, appends to OUTDIR/NAME.txt, notes time and exit code
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s%N)
  echo "\$ $*" >> "$out/$name.txt"
  timeout "$limit" "$@" >> "$out/$name.txt" 2>&1
  local rc=$?
  printf "%-10s rc %3d  %6d ms  %s\n" "$name" $rc $(( ($(date +%s%N) - t0) / 1000000 )) "$*" | tee -a "$out/summary.txt"
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/summary.txt" 2>&1
# Most important first: a later step may be cut off by the call's time limit.
# Per-dispatch GPU time of a ResNet-20 step: the defaults, then each tuning variant (Gpu.tune).
step profile 90 $cli profile --model cifar_resnet_20 --batch 128 --reps 5
for t in ${EARLYPHASE_SUITE_TUNES:-convWeightGradPixels=0 convSplitThreads=0 convSplitThreads=32768 convSplitThreads=131072 convSplitThreads=262144 convWg=128 convWg=32 convWeightGradGroups=512 convWeightGradGroups=2048}; do
  step variants 30 env EARLYPHASE_TUNE=$t $cli profile --model cifar_resnet_20 --batch 128 --reps 5 --top 1
done
step bench 200 $cli bench --suite training --peer pytorch --warmup 5 --reps 20
# Correctness on the GPU: every kernel case.
step check 90 $cli check
# Real runs through the trainer: ResNet-20 twice (bitwise identical?), the LeNet recipe.
for r in a b; do
  step train 60 $cli train --default-hparams cifar_resnet_20 --dataset-name fashion_mnist --training-steps 2ep --evaluate-only-at-end --root /tmp/runs_$r
done
for r in a b; do grep -ho '"weightsHash": *"[0-9a-f]*"' -r /tmp/runs_$r | sed "s/^/$r /" >> "$out/summary.txt"; done
# cuDNN's time per kernel.
step cudnn 60 python3 runner/bench/pytorch_kernels.py --model cifar_resnet_20
step profile 30 $cli profile --model mnist_lenet_300_100 --batch 128 --reps 5
step train 60 $cli train --default-hparams mnist_lenet_300_100 --dataset-name fashion_mnist --root /tmp/runs_lenet
# The GPU test files (any adapter will do).
step tests 120 env EARLYPHASE_REQUIRE_ADAPTERS=nvidia EARLYPHASE_TEST_ADAPTERS=nvidia node runner/test.mjs test/kernels
