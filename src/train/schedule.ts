// The learning rate at an iteration, as OpenLTH computes it (training/optimizers.py, a LambdaLR
// stepped after each optimiser step): linear warm-up over the first `warmup` iterations,
// lr · min(1, it/warmup) — so iteration 0 trains at rate 0, as in OpenLTH — then multiplied by
// gamma at every milestone passed. A pure function of the iteration, so a resumed or rewound run
// continues the same schedule.

export interface Schedule {
  lr: number;
  /** Iterations at which the rate is multiplied by gamma. */
  milestones: readonly number[];
  gamma: number;
  warmup: number;
}

export function learningRate(s: Schedule, iteration: number): number {
  let lr = s.lr;
  for (const m of s.milestones) if (iteration >= m) lr *= s.gamma;
  if (s.warmup > 0 && iteration < s.warmup) lr *= iteration / s.warmup;
  return lr;
}
