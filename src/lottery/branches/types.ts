// The contract every branch perturbation follows: a pure function from the IMP state at the rewind
// point (mask, w_0, w_k, all in the parameter arena's layout) plus an explicit seed and typed
// options to the weights the branch trains from. Nothing here touches a GPU or the file system,
// so a branch's output is a function of its input alone (same seed ⇒ same bytes).
import type { ModelSpec } from '../../nn/graph.ts';
import type { BatchnormInit } from '../../nn/init.ts';
import type { GroupSchema } from '../../train/hparams/schema.ts';

/** One tensor of the parameter arena (Arena.layout()). */
export interface LayoutEntry { readonly name: string; readonly offset: number; readonly shape: readonly number[] }

export interface BranchInput<O> {
  readonly spec: ModelSpec;
  /** Layout of the parameter arena that mask, w0 and wk follow (padding between tensors is 0). */
  readonly layout: readonly LayoutEntry[];
  /** 1 where a weight survives, 0 where it is pruned (only read on prunable tensors). */
  readonly mask: Float32Array;
  /** Weights at step 0 (the initialisation). */
  readonly w0: Float32Array;
  /** Weights at the rewind step k. */
  readonly wk: Float32Array;
  /** Seeds every random draw of the branch; an unsigned 32-bit integer. */
  readonly seed: number;
  readonly options: O;
  /**
   * The model's batchnorm_init hyperparameter, needed only by branches that redraw batchnorm γ
   * (randomly_reinitialize). Defaults to OpenLTH's 'uniform'.
   */
  readonly bnInit?: BatchnormInit;
}

export interface Branch<O extends object> {
  /** snake_case, as on the command line (`lottery_branch <name>`). */
  readonly name: string;
  /** One line for --help and the docs. */
  readonly description: string;
  /** Typed options with defaults and help text, in the hyperparameter field-spec language. */
  readonly options: GroupSchema<O>;
  /** Returns new weights in the same layout; never modifies its input arrays. */
  apply(input: BranchInput<O>): Float32Array;
}
