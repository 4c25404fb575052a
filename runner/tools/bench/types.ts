// The contract between the benchmark command and each benchmark family (matmul, conv2d, …).
import type { Gpu } from '../../../src/gpu/gpu.ts';

/** Timing of one implementation: milliseconds per call over `reps` repetitions after warm-up. */
export interface Timing { minMs: number; medianMs: number; reps: number }

export interface BenchRow {
  suite: string;          // "matmul", "conv2d", …
  case: string;           // e.g. "1024x1024x1024" or "fwd 128x16x32x32 k3 s1"
  flops: number;          // floating-point operations per call (2 per multiply-add)
  /** Training rows: latency, each step waited for before the next. */
  ours: Timing;
  peer: Timing;
  peerName: string;       // e.g. "tfjs-webgpu 4.22", "pytorch 2.11 eager"
  /**
   * ours / peer speed (>1 means we are faster): kernel rows from median times, training rows
   * from `throughputMs`. null: the peer computes in another precision than ours (a PyTorch TF32
   * or autocast row against our fp32): the row stands as context, with no ratio.
   */
  ratio: number | null;
  /** Training rows: ms/step of each round of steps back to back (the spread; throughputMs is the median). */
  oursRoundsMs?: number[];
  /** Training rows of the PyTorch peer: the same for the peer. */
  peerRoundsMs?: number[];
  /** Whole-training-step rows (suite "training") only: what our step does besides its time. */
  training?: TrainingStats;
  /**
   * Training rows: ms/step with steps submitted back to back and one wait at the end; matmul rows:
   * ms/call with the calls back to back in one submit (cuBLAS: back to back, one synchronize). A
   * peer timed only call by call (TF.js) has its latency median here. Absent in rows from before
   * it existed (and in the other kernel rows).
   */
  throughputMs?: { ours: number; peer: number };
  /**
   * Pack rows (`bench --suite training --pack`): our step trains `members` networks at once (its
   * training.batch is all their images), the peer's step one network of `peerBatch` images.
   */
  pack?: { members: number; peerBatch: number };
}

/** Training-suite peers: TF.js (webgpu on our device, and wasm) and PyTorch (CUDA, subprocess). */
export const PEERS = ['tfjs', 'pytorch'] as const;
export type PeerName = (typeof PEERS)[number];

/** Our side of a training-step row, counted by the Program over the timed steps. */
export interface TrainingStats {
  /** Images per step: images/s = batch / (ms/step) · 1000. */
  batch: number;
  dispatchesPerStep: number;
  submitsPerStep: number;
  /** Asynchronous metric snapshots (the staging ring) per step. */
  asyncReadbacksPerStep: number;
  /** Readbacks a step waits for: none by construction (Program has no synchronous read). */
  blockingReadbacksPerStep: number;
  /** Bytes of every GPU buffer our step allocated (device.createBuffer tracked during construction). */
  gpuBytes: number;
  gpuBytesByKind: Record<string, number>;
}

export interface BenchContext {
  gpu: Gpu;
  /** TensorFlow.js (tfjs-core) with its webgpu backend active on the same Dawn adapter as `gpu`. */
  tf: typeof import('@tensorflow/tfjs-core');
  warmup: number;
  reps: number;
  /** Training suite: only the models whose name contains one of these (all when absent). */
  models?: string[];
  /** Training suite: time packs of these sizes (src/train/train-pack.ts) instead of single steps. */
  packs?: number[];
  /**
   * Training suite: our step in mixed precision (--apex-fp16); its ratios pair with PyTorch's
   * autocast fp16 rows only (the same numerics: autocast + GradScaler).
   */
  apexFp16?: boolean;
  /** Peers to time: the training suite honours both; kernel suites always compare with TF.js webgpu, and matmul adds cuBLAS for pytorch. */
  peers: PeerName[];
  /** Progress lines for the terminal (stderr). */
  log: (line: string) => void;
}
