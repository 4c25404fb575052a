// The pre-training tasks of the paper's §5 as the lottery's --pretrain-<hparam> overrides: one
// definition for the `pretraining` sweep presets and the run-in-tab form, so both name the same
// experiments (and land in the same lottery folders).
export const PRETRAIN_TASKS = {
  rotation: { label: 'rotation (predict 0/90/180/270°)', flags: ['--pretrain-unsupervised-labels', 'rotation'] },
  random_labels: { label: 'random labels', flags: ['--pretrain-random-labels-fraction', '1'] },
  blur: { label: 'blurred images (×4)', flags: ['--pretrain-blur-factor', '4'] },
  same: { label: 'the same task', flags: [] },
} as const satisfies Record<string, { label: string; flags: readonly string[] }>;

export type PretrainTask = keyof typeof PRETRAIN_TASKS;
