// Starting a run from a given weights file (`--init-weights FILE`) instead of the seeded
// initialisation. The file is part of the run's identity: its SHA-256 is the hyperparameter
// model.init_weights_sha256, so the folder hash names the exact bytes. The host hands the file's
// bytes over before any GPU work; openRun (run-open.ts) looks them up by that hash when a run
// neither resumes nor is given weights by its driver (a lottery level ≥ 1, a branch, a copy for
// instability start from mask ⊙ w_k instead). Keyed by content, so a hash can only ever name the
// bytes it was computed from, whichever driver (train, lottery, pre-training) asks.
import { UserError } from '../errors.ts';
import type { Arena } from '../gpu/tensor.ts';
import { decodeWeights, type HostState } from './checkpoint.ts';
import { sha256Hex } from '../io/digest.ts';

const given = new Map<string, { file: string; bytes: Uint8Array }>();

/** Registers a weights file's bytes under their SHA-256 (returned: the value of model.init_weights_sha256). */
export function provideInitWeights(file: string, bytes: Uint8Array): string {
  const sha = sha256Hex(bytes);
  given.set(sha, { file, bytes });
  return sha;
}

/** Whether weights with this SHA-256 were given. */
export function hasInitWeights(sha: string): boolean {
  return given.has(sha);
}

/**
 * The given weights with this SHA-256, decoded strictly for the model's layouts: OpenLTH's names
 * (our model_*.safetensors files, or a PyTorch state_dict saved as safetensors; num_batches_tracked
 * optional), every tensor with the model's shape in float32, nothing else, all finite. Errors name
 * the file and the tensor. A fresh copy on every call (loading zeroes pruned weights in place).
 */
export function initWeightsFor(sha: string, params: Arena, stats: Arena): HostState {
  const f = given.get(sha);
  if (!f) {
    throw new UserError(`init_weights_sha256 ${sha} names a weights file that was not given: pass it with --init-weights FILE ` +
      '(the file whose sha256sum this is)');
  }
  return decodeWeights(f.bytes, f.file, params, stats);
}
