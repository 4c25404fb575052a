#!/bin/bash
# Everything worth measuring on a lent GPU machine, in one call (device time is scarce):
#   bash .gpu/remote.sh bash runner/tools/gpu-suite.sh OUTDIR [GROUP...]
# (after `bash ../shared/gpu/pack.sh` here; see docs/performance.md, "Running on a GPU"). GROUPs (default: all,
# in this order): profile variants robustness matmul gemm bench check train cudnn lenet tests packs. Each step
# has its own time limit and writes its own log under OUTDIR, so one failing step never hides the
# others; OUTDIR/summary.txt lists every step with its exit code and time.
set -u
out=${1:?usage: runner/tools/gpu-suite.sh OUTDIR [GROUP...]}
shift
groups=${*:-profile variants robustness matmul gemm bench check train cudnn lenet tests packs}
mkdir -p "$out"
cli="node runner/earlyphase.mjs"
source "$(dirname "$0")/gpu-step.sh"
resnet="profile --model cifar_resnet_20 --batch 128 --reps 5"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/summary.txt" 2>&1
for g in $groups; do
  case $g in
    # Per-dispatch GPU time of a ResNet-20 step with the defaults.
    profile) step profile 90 $cli $resnet ;;
    # The same step with each tuning variant (Gpu.tune; EARLYPHASE_SUITE_TUNES overrides the list).
    variants)
      for t in ${EARLYPHASE_SUITE_TUNES:-convWeightGradGroups=128 convWeightGradGroups=512 convWeightGradPair=0 convWeightGradPixels=0 convColumns=0 convSplitThreads=16384 convSplitThreads=65536}; do
        step variants 30 env EARLYPHASE_TUNE=$t $cli $resnet --top 1
      done ;;
    # What Dawn's bounds clamping costs: the step and the GEMMs without it.
    robustness)
      step robustness 30 env EARLYPHASE_DAWN_TOGGLES=disable_robustness $cli $resnet --top 1
      step robustness 90 env EARLYPHASE_DAWN_TOGGLES=disable_robustness $cli bench --suite matmul --warmup 3 --reps 10 ;;
    # Square matmuls up to 4096³ against TF.js and cuBLAS.
    matmul) step matmul 120 $cli bench --suite matmul --peer tfjs,pytorch --warmup 3 --reps 10 ;;
    # The matmul bench with each GEMM tuning variant (EARLYPHASE_SUITE_GEMM_TUNES overrides the list).
    gemm)
      for t in ${EARLYPHASE_SUITE_GEMM_TUNES:-gemmLanes=16 gemmLanes=4 gemmSlab=16 gemmLargeTiles=32}; do
        step gemm 60 env EARLYPHASE_TUNE=$t $cli bench --suite matmul --warmup 3 --reps 10
      done ;;
    # The PyTorch peer times every setting (eager, TF32, autocast, three torch.compile modes; docs/performance.md):
    # its budget (EARLYPHASE_PYTORCH_BUDGET_S) ends it with a skip line per case left, inside the step's limit.
    bench) step bench 600 env EARLYPHASE_PYTORCH_BUDGET_S=${EARLYPHASE_PYTORCH_BUDGET_S:-420} $cli bench --suite training --peer pytorch --warmup 5 --reps 20 ;;
    # Correctness on the GPU: every kernel case.
    check) step check 90 $cli check ;;
    # Real runs through the trainer: ResNet-20 twice (bitwise identical?).
    train)
      for r in a b; do
        step train 60 $cli train --default-hparams cifar_resnet_20 --dataset-name fashion_mnist --training-steps 2ep --evaluate-only-at-end --root /tmp/runs_$r
      done
      for r in a b; do grep -ho '"weightsHash": *"[0-9a-f]*"' -r /tmp/runs_$r | sed "s/^/$r /" >> "$out/summary.txt"; done ;;
    # cuDNN's time per kernel.
    cudnn) step cudnn 60 python3 runner/tools/bench/pytorch_kernels.py --model cifar_resnet_20 ;;
    lenet)
      step profile 30 $cli profile --model mnist_lenet_300_100 --batch 128 --reps 5
      step train 60 $cli train --default-hparams mnist_lenet_300_100 --dataset-name fashion_mnist --root /tmp/runs_lenet ;;
    # The GPU test files (any adapter will do).
    tests) step tests 120 env EARLYPHASE_REQUIRE_ADAPTERS=nvidia EARLYPHASE_TEST_ADAPTERS=nvidia node runner/test.mjs test/kernels ;;
    # Packs (src/train/train-pack.ts): aggregate images/s per K against one PyTorch process, a
    # packed lottery's folders against the unpacked one's (bitwise identity on the GPU; the tests
    # group runs test/kernels/train-pack.test.ts there too), and the profile of a pack's step.
    packs)
      step packs 600 env EARLYPHASE_PYTORCH_BUDGET_S=${EARLYPHASE_PYTORCH_BUDGET_S:-360} $cli bench --suite training --pack 1,2,4,8,16,32 --peer pytorch --warmup 3 --reps 10
      lot="lottery --default-hparams mnist_lenet_300_100 --dataset-name fashion_mnist --subsample-fraction 0.1 --training-steps 2ep --levels 2 --replicates 1-4 --evaluate-only-at-end --quiet"
      step packs 90 $cli $lot --pack 4 --root /tmp/runs_packed
      step packs 90 $cli $lot --root /tmp/runs_alone
      step packs 10 diff -r -x '.lock-*' /tmp/runs_packed /tmp/runs_alone
      # Where a pack's step spends its GPU time: each op is one member-fused dispatch for all 8.
      step packs 90 $cli $resnet --pack 8 --top 10 ;;
    *) echo "gpu-suite: unknown group $g" | tee -a "$out/summary.txt" ;;
  esac
done
