// `earlyphase profile`: GPU time of every dispatch of one training step (and/or one evaluation
// batch), grouped by kernel and by layer, against the step's own time when submitted alone and
// when pipelined. Options are checked before any GPU work; the timing mechanics are in
// src/gpu/timing.ts, the grouping and tables in runner/tools/profile/summary.ts.
import { openGpu } from '../../host/dawn.ts';
import type { Gpu } from '../../../src/gpu/gpu.ts';
import { activeDispatches, emptySubmitMs, TimestampTimer, timeEachByRepeat } from '../../../src/gpu/timing.ts';
import { getModel, MODEL_EXAMPLES, UnknownModelError } from '../../../src/nn/zoo.ts';
import { UserError } from '../../../src/errors.ts';
import { buildEvalStep, buildTrainStep, datasetFor, type ProfiledStep } from './steps.ts';
import { dispatchTable, dispatchTimes, type DispatchTime, fmtMs, group, groupTable, type GroupTime, median } from './summary.ts';

export type ProfileMode = 'train' | 'eval';
export type TimingMethod = 'timestamps' | 'repeat';

export interface ProfileOptions {
  model: string; batch: string; density: string; mode: string; reps: string; method: string; repeat: string;
  json?: boolean; adapter?: string; top?: string;
  /** Training step of a pack of K networks (each op one member-fused dispatch); default 1. */
  pack?: string;
}

export interface ProfileConfig {
  model: string; batch: number; density: number; modes: ProfileMode[]; reps: number;
  method: 'auto' | TimingMethod; repeat: number; top: number; pack: number;
}

function positiveInt(flag: string, v: string): number {
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new UserError(`${flag} must be a positive integer, got "${v}"`);
  return n;
}

/** Validates every option (before the GPU is touched); errors are one line naming the value. */
export function parseProfileOptions(o: ProfileOptions): ProfileConfig {
  try {
    getModel(o.model);
  } catch (e) {
    if (e instanceof UnknownModelError) throw new UserError(`unknown model "${o.model}"; the zoo: ${MODEL_EXAMPLES.join(', ')} (cifar_resnet_D[_W] and mnist_lenet_N1[_N2…] take other sizes too)`);
    throw e;
  }
  datasetFor(o.model);
  const batch = positiveInt('--batch', o.batch);
  const density = Number(o.density);
  if (o.density.trim() === '' || !Number.isFinite(density) || density <= 0 || density > 1) {
    throw new UserError(`--density must be a number in (0, 1] (the fraction of prunable weights kept), got "${o.density}"`);
  }
  const modes: Record<string, ProfileMode[]> = { train: ['train'], eval: ['eval'], both: ['train', 'eval'] };
  if (!modes[o.mode]) throw new UserError(`--mode must be train, eval or both, got "${o.mode}"`);
  if (!['auto', 'timestamps', 'repeat'].includes(o.method)) throw new UserError(`--method must be auto, timestamps or repeat, got "${o.method}"`);
  const pack = o.pack === undefined ? 1 : positiveInt('--pack', o.pack);
  if (pack > 1 && o.mode !== 'train') throw new UserError(`--pack ${pack} profiles a pack's training step: use --mode train`);
  const { train } = datasetFor(o.model);
  if (batch > train) throw new UserError(`--batch ${batch} is larger than the dataset (${train} examples)`);
  return {
    model: o.model, batch, density, modes: modes[o.mode]!, reps: positiveInt('--reps', o.reps),
    method: o.method as ProfileConfig['method'], repeat: positiveInt('--repeat', o.repeat), top: o.top === undefined ? 15 : positiveInt('--top', o.top), pack,
  };
}

export interface ProfileSection {
  mode: ProfileMode;
  method: TimingMethod;
  /** How the per-dispatch times were taken, and why this method. */
  methodNote: string;
  /** Repeat method only: copies per pass and the empty-submit baseline subtracted. */
  repeat: number | null;
  baselineMs: number | null;
  /** Active dispatches per step as the Program counts them (the rows below are exactly these). */
  dispatchCount: number;
  /** Sum of the per-dispatch median GPU times. */
  sumMs: number;
  /** Wall time of one step submitted alone and waited for (median over reps). */
  singleSubmitMs: { medianMs: number; minMs: number; reps: number };
  /**
   * Timestamp method: wall time of the profiled submit (every dispatch in a pass of its own, with
   * timestamps), median over reps; against singleSubmitMs it shows what the split costs. Null for repeat.
   */
  profiledSubmitMs: number | null;
  /** `steps` steps submitted back to back, one wait at the end: wall time / steps. */
  pipelined: { steps: number; msPerStep: number };
  /** pipelined ms/step − sum of dispatch times: dispatch, barrier and submit overhead (can be < 0 where passes cost extra). */
  overheadMs: number;
  dispatches: DispatchTime[];
  kernels: GroupTime[];
  layers: GroupTime[];
}

export interface ProfileResult {
  adapter: { name: string; description: string; class: string; timestampQuery: boolean };
  /** The kernel set used (the adapter's class unless EARLYPHASE_KERNELS overrides) and EARLYPHASE_TUNE. */
  kernels: string; tune: Record<string, number>;
  model: string; batch: number; density: number; reps: number;
  /** Networks in the profiled training step (1: a run alone). */
  pack: number;
  sections: ProfileSection[];
}

async function checked(gpu: Gpu, what: string, f: () => Promise<void>): Promise<void> {
  gpu.device.pushErrorScope('validation');
  await f();
  const err = await gpu.device.popErrorScope();
  if (err) throw new Error(`profile ${what}: WebGPU validation error: ${err.message}`);
}

/**
 * Per-dispatch samples of `reps` steps by the method `cfg` asks for, falling back to repeat where
 * timestamps are absent or unusable. `between` runs after each sample (the single-submit timing,
 * interleaved so that a change in machine load affects both alike).
 */
async function dispatchSamples(gpu: Gpu, step: ProfiledStep, list: ReturnType<typeof activeDispatches>, cfg: ProfileConfig, next: () => number,
  between: () => Promise<void>): Promise<{ samples: number[][]; method: TimingMethod; note: string; baselineMs: number | null; walls: number[] }> {
  let why: string;
  if (cfg.method === 'repeat') why = '--method repeat';
  else if (!gpu.hasTimestamps) why = 'the device has no timestamp-query feature';
  else {
    const timer = new TimestampTimer(gpu, list);
    try {
      const samples: number[][] = [], walls: number[] = [];
      let problem: string | null = null;
      for (let r = 0; r < cfg.reps && !problem; r++) {
        step.setStep(next());
        const run = await timer.run();
        problem = run.problem;
        samples.push(run.ms);
        walls.push(run.wallMs);
        await between();
      }
      if (!problem) {
        return {
          samples, walls, method: 'timestamps', baselineMs: null,
          note: `timestamp queries: each dispatch in a compute pass of its own (timestampWrites at its beginning and end), the whole step in one submit, in order; median of ${cfg.reps} step(s)`,
        };
      }
      if (cfg.method === 'timestamps') throw new UserError(`--method timestamps: this adapter's timestamps are unusable (${problem})`);
      why = `timestamp-query is present but its values are unusable (${problem})`;
    } finally {
      timer.destroy();
    }
  }
  if (cfg.method === 'timestamps') throw new UserError(`--method timestamps: ${why}`);
  const baselineMs = await emptySubmitMs(gpu);
  const samples: number[][] = [];
  for (let r = 0; r < cfg.reps; r++) {
    step.setStep(next());
    samples.push(await timeEachByRepeat(gpu, list, cfg.repeat, baselineMs));
    await between();
  }
  return {
    samples, walls: [], method: 'repeat', baselineMs,
    note: `repeat (${why}): each dispatch in order, ${cfg.repeat}x in one pass, one submit each, wall clock of submit + onSubmittedWorkDone ` +
      `minus an empty submit (${fmtMs(baselineMs)} ms), divided by ${cfg.repeat}; in-place updates apply ${cfg.repeat}x; median of ${cfg.reps} step(s)`,
  };
}

async function profileStep(gpu: Gpu, mode: ProfileMode, step: ProfiledStep, cfg: ProfileConfig, log: (s: string) => void): Promise<ProfileSection> {
  const list = activeDispatches(step.dispatches);
  const dispatchCount = step.program.dispatchesPerStep;
  if (list.length !== dispatchCount) throw new Error(`profile: ${list.length} active dispatches but the Program runs ${dispatchCount}`);
  let i = 0;
  const next = () => i++;
  // Warm-up: pipelines are compiled on first use (seconds on a CPU adapter).
  log(`profile ${mode}: warm-up step (${dispatchCount} dispatches)`);
  await checked(gpu, 'warm-up', async () => { step.setStep(next()); await step.program.step(false); });
  await step.program.flush();

  log(`profile ${mode}: ${cfg.reps} step(s) with per-dispatch times, each followed by a step of its own (one submit, waited for)`);
  const single: number[] = [];
  const { samples, method, note, baselineMs, walls } = await dispatchSamples(gpu, step, list, cfg, next, async () => {
    if (single.length === cfg.reps) return; // timestamps given up for the repeat method: keep the first reps
    step.setStep(next());
    const t0 = performance.now();
    await step.program.step(false);
    await step.program.flush();
    single.push(performance.now() - t0);
  });

  log(`profile ${mode}: ${cfg.reps} step(s) pipelined`);
  const t0 = performance.now();
  for (let r = 0; r < cfg.reps; r++) {
    step.setStep(next());
    await step.program.step(false);
  }
  await step.program.flush();
  const msPerStep = (performance.now() - t0) / cfg.reps;
  gpu.checkAlive();

  const dispatches = dispatchTimes(list, samples);
  const sumMs = dispatches.reduce((a, d) => a + d.ms, 0);
  return {
    mode, method, methodNote: note, repeat: method === 'repeat' ? cfg.repeat : null, baselineMs,
    dispatchCount, sumMs,
    singleSubmitMs: { medianMs: median(single), minMs: Math.min(...single), reps: single.length },
    profiledSubmitMs: walls.length ? median(walls) : null,
    pipelined: { steps: cfg.reps, msPerStep },
    overheadMs: msPerStep - sumMs,
    dispatches, kernels: group(dispatches, (d) => d.kernel), layers: group(dispatches, (d) => d.layer),
  };
}

export async function runProfile(cfg: ProfileConfig, adapter: string | undefined, log: (s: string) => void): Promise<ProfileResult> {
  const gpu = await openGpu(adapter);
  try {
    const sections: ProfileSection[] = [];
    for (const mode of cfg.modes) {
      const step = mode === 'train' ? buildTrainStep(gpu, cfg.model, cfg.batch, cfg.density, cfg.pack) : buildEvalStep(gpu, cfg.model, cfg.batch, cfg.density);
      try {
        sections.push(await profileStep(gpu, mode, step, cfg, log));
      } finally {
        step.destroy();
      }
    }
    return {
      adapter: { name: gpu.adapter.shortName, description: gpu.adapter.description, class: gpu.adapter.class, timestampQuery: gpu.hasTimestamps },
      kernels: gpu.kernels, tune: { ...gpu.tune },
      model: cfg.model, batch: cfg.batch, density: cfg.density, reps: cfg.reps, pack: cfg.pack, sections,
    };
  } finally {
    gpu.destroy();
  }
}

export function formatProfile(r: ProfileResult, top: number): string {
  const tune = Object.entries(r.tune).map(([k, v]) => `${k}=${v}`).join(', ');
  const out: string[] = [`adapter: ${r.adapter.name} (${r.adapter.description}), kernel set: ${r.kernels}${tune ? ` (tune: ${tune})` : ''}`];
  for (const s of r.sections) {
    const what = s.mode === 'train'
      ? `training step (gather, forward, loss, backward, masked SGD)${r.pack > 1 ? ` of a pack of ${r.pack} networks (each dispatch runs all ${r.pack}; ${r.pack * r.batch} images)` : ''}`
      : 'evaluation batch (gather, eval-mode forward, loss)';
    const pct = (x: number) => `${((100 * x) / s.pipelined.msPerStep).toFixed(1)}% of the pipelined step`;
    out.push('',
      `${r.model}, batch ${r.batch}, density ${r.density}: ${what}, ${s.dispatchCount} dispatches`,
      `method: ${s.methodNote}`,
      `sum of dispatch times   ${fmtMs(s.sumMs)} ms`,
      ...(s.profiledSubmitMs === null ? [] : [`profiled step, wall     ${fmtMs(s.profiledSubmitMs)} ms (one pass per dispatch, timestamps on; median)`]),
      `one step per submit     ${fmtMs(s.singleSubmitMs.medianMs)} ms (median of ${s.singleSubmitMs.reps}, best ${fmtMs(s.singleSubmitMs.minMs)})`,
      `steps pipelined         ${fmtMs(s.pipelined.msPerStep)} ms/step (${s.pipelined.steps} back to back, one wait)`,
      `pipelined − sum         ${fmtMs(s.overheadMs)} ms (${pct(s.overheadMs)}): dispatch, barrier and submit overhead`,
      '', groupTable('kernel', s.kernels), '');
    if (s.layers.length > top) out.push(`slowest ${top} of ${s.layers.length} layers`);
    out.push(groupTable('layer', s.layers.slice(0, top)), '');
    const slow = [...s.dispatches].sort((a, b) => b.ms - a.ms).slice(0, top);
    out.push(`slowest ${slow.length} of ${s.dispatches.length} dispatches (every one in --json; # is the position in the step)`, dispatchTable(slow, s.sumMs));
  }
  out.push('', '% step: share of the sum of dispatch times. GFLOP/s: only kernels that state their flops (else -). ' +
    'GB/s: bytes bound (or stated by the kernel) / time, an estimate of traffic.');
  return out.join('\n');
}

export async function runProfileCommand(o: ProfileOptions): Promise<void> {
  const cfg = parseProfileOptions(o);
  const r = await runProfile(cfg, o.adapter, (s) => process.stderr.write(`${s}\n`));
  console.log(o.json ? JSON.stringify(r, null, 2) : formatProfile(r, cfg.top));
}
