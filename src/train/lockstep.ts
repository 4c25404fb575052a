// The training loop of runs that stand at the same iteration of the same schedule, trained as
// one TrainPack (a run alone is a pack of one). It reads like OpenLTH's train loop: for each
// epoch, for each step, train; the run-folder concerns — a pause, runs that diverged or were
// stopped, telemetry, save points, the epoch's end (metrics, evaluation, checkpoint) — are small
// named pieces around it, and each run's own side is its MemberRun (src/train/member-run.ts).
// Steps are submitted without waiting: loss and accuracy arrive through the staging ring, so a
// NaN/Inf loss stops its run within RING steps (the others in its pack go on).
import type { Gpu } from '../gpu/gpu.ts';
import type { ExtraWork } from '../gpu/program.ts';
import { UserError } from '../errors.ts';
import type { RunStorage } from './storage.ts';
import type { EventSink } from './events.ts';
import type { RunControl } from './control.ts';
import { TrainPack } from './train-pack.ts';
import { DivergenceError } from './run-files.ts';
import type { OpenRun } from './run-open.ts';
import type { PackOutcome } from './train-job.ts';
import { MemberRun } from './member-run.ts';
import type { AmpStepStats } from './amp.ts';

/** Snapshots in flight: NaN detection lags by at most this many iterations. */
const RING = 2;

/** Trains `runs` together and returns each one's outcome; a pack the device has no memory for is split in halves. */
export async function trainLockstep(gpu: Gpu, storage: RunStorage, sink: EventSink, runs: readonly OpenRun[]): Promise<PackOutcome[]> {
  const t0 = Date.now();
  const meta = { model: runs[0]!.spec.name, adapter: gpu.adapter.description };
  const members = runs.map((r) => new MemberRun(r, storage, sink, meta));
  const pack = await buildPack(gpu, runs, members);
  if (!pack) {
    // Nothing has been written yet: train the halves on their own.
    const half = Math.ceil(runs.length / 2);
    sink({ type: 'log', run: runs[0]!.job.run, message: `a pack of ${runs.length} runs does not fit in GPU memory; training them as packs of ${half} and ${runs.length - half}` });
    return [...await trainLockstep(gpu, storage, sink, runs.slice(0, half)), ...await trainLockstep(gpu, storage, sink, runs.slice(half))];
  }
  try {
    await new Lockstep(gpu, sink, pack, members, t0).run();
  } catch (e) {
    // Not one run's failure (a lost device, a full disk): every run still going shares it.
    for (const m of members) if (m.running) m.failed = e;
  } finally {
    pack.destroy();
  }
  return members.map((m) => (m.result ?? { error: m.failed }));
}

/** The pack of `runs`, or null when the device has no memory for it (more than one run). */
async function buildPack(gpu: Gpu, runs: readonly OpenRun[], members: readonly MemberRun[]): Promise<TrainPack | null> {
  gpu.device.pushErrorScope('out-of-memory');
  let pack: TrainPack | null = null;
  try {
    pack = new TrainPack(gpu, {
      data: runs[0]!.job.data, spec: runs[0]!.spec, ring: RING,
      members: runs.map((r, i) => ({ hparams: r.h, replicate: r.job.replicate, onMetrics: (it: number, l: number, c: number, amp?: AmpStepStats) => members[i]!.onMetrics(it, l, c, amp) })),
    });
  } finally {
    const oom = await gpu.device.popErrorScope();
    if (oom) {
      pack?.destroy();
      if (runs.length === 1) throw new UserError(`out of GPU memory for one run of ${runs[0]!.spec.name} at batch ${runs[0]!.h.dataset.batch_size}: ${oom.message}; lower --batch-size`);
      pack = null;
    }
  }
  if (pack) members.forEach((m, i) => { m.member = pack!.members[i]!; });
  return pack;
}

class Lockstep {
  private iteration: number;
  private readonly total: number;
  private readonly perEpoch: number;
  /** The runs' pause/stop controls (the browser tab), each once. */
  private readonly controls: RunControl[];

  constructor(private readonly gpu: Gpu, private readonly sink: EventSink, private readonly pack: TrainPack,
    private readonly members: readonly MemberRun[], private readonly t0: number) {
    const r0 = members[0]!.r;
    this.iteration = r0.iteration;
    this.total = r0.total;
    this.perEpoch = r0.perEpoch;
    this.controls = [...new Set(members.map((m) => m.control).filter((c): c is RunControl => !!c))];
  }

  async run(): Promise<void> {
    this.reportUnfused();
    await this.each((m) => m.load(this.gpu, this.iteration));
    await this.each((m) => m.prepare(this.gpu, this.pack, this.iteration, this.t0));
    while (this.iteration < this.total && this.members.some((m) => m.running)) {
      const epochEnd = Math.min((Math.floor(this.iteration / this.perEpoch) + 1) * this.perEpoch, this.total);
      for (const m of this.members) m.startEpoch();
      for (; this.iteration < epochEnd; this.iteration++) {
        if (!await this.beforeStep()) break;
        await this.pack.step(this.iteration, this.telemetryDue());
        for (const m of this.members) m.reportImages += m.member.batchAt(this.iteration);
        await this.savePoint();
      }
      await this.pack.flush();
      await this.each((m) => this.endEpoch(m));
    }
    await this.each((m) => m.finish(this.t0));
  }

  /** Runs `f` for each running member; a UserError (divergence, a file it cannot use) stops that member alone. */
  private async each(f: (m: MemberRun) => Promise<void> | void): Promise<void> {
    for (const [i, m] of this.members.entries()) {
      if (!m.running) continue;
      try {
        await f(m);
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        m.failed = e;
        this.pack.stop(i);
      }
    }
  }

  private reportUnfused(): void {
    const unfused = this.pack.fusion.unfused;
    if (!unfused.length) return;
    const why = unfused.slice(0, 3).map((u) => `${u.label}: ${u.reason}`).join('; ');
    this.sink({ type: 'log', run: this.members[0]!.run, message: `${unfused.length} of the step's ops run once per member of this pack of ${this.members.length}, not as one dispatch (${why}${unfused.length > 3 ? '; …' : ''})` });
  }

  /**
   * A pause holds the whole pack (it steps in lockstep); a run that diverged or was stopped leaves
   * the pack at once (its error is reported at the epoch end, after the flush). False when no run
   * is left to step.
   */
  private async beforeStep(): Promise<boolean> {
    for (const c of this.controls) if (c.paused) await c.wait().catch(() => {});
    for (const [i, m] of this.members.entries()) {
      const c = m.control;
      if (c?.interrupted && m.running && !m.stopped) m.stopped = await c.wait().then(() => null, (e: unknown) => e);
      if ((m.diverged || m.stopped) && m.member.active) this.pack.stop(i);
    }
    return this.pack.members.some((p) => p.active);
  }

  private telemetryDue(): ExtraWork[] {
    return this.members.flatMap((m) => m.telemetryAfter(this.iteration) ?? []);
  }

  /** Weights saved along the way (--save-steps, the rewind point): after the step that reaches them. */
  private async savePoint(): Promise<void> {
    const saving = this.members.filter((m) => m.savesAfter(this.iteration));
    if (!saving.length) return;
    await this.pack.flush();
    await this.each(async (m) => { if (saving.includes(m) && !m.diverged) await m.saveWeights(this.iteration + 1); });
  }

  private async endEpoch(m: MemberRun): Promise<void> {
    if (m.stopped) throw m.stopped;
    if (m.diverged) throw new DivergenceError(`training diverged: ${m.diverged}; no checkpoint was written after it. Lower --lr or check the data.`);
    await m.endEpoch(this.iteration, this.t0);
  }
}
