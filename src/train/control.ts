// Cooperative pause/stop for a training run, for hosts that keep running after a run ends (the
// browser tab). The trainer tests `interrupted` — a plain field — between steps and only awaits
// when it is set, so an uncontrolled or running job pays one property read per step. Stop takes
// effect after the current step and leaves the run folder as a killed CLI run would: the next
// run with the same storage resumes from the last checkpoint.
import { UserError } from '../errors.ts';

export class RunStoppedError extends UserError {
  override name = 'RunStoppedError';
}

export class RunControl {
  /** True while paused or stopping: the trainer calls `wait()` before its next step. */
  interrupted = false;
  private stopping = false;
  private wake: (() => void) | null = null;

  get paused(): boolean { return this.interrupted && !this.stopping; }

  pause(): void { if (!this.stopping) this.interrupted = true; }

  resume(): void {
    if (this.stopping) return;
    this.interrupted = false;
    this.wake?.();
  }

  stop(): void {
    this.stopping = this.interrupted = true;
    this.wake?.();
  }

  /** Returns when resumed; throws RunStoppedError when stopped (at once if already). */
  async wait(): Promise<void> {
    while (this.interrupted && !this.stopping) await new Promise<void>((r) => { this.wake = r; });
    this.wake = null;
    if (this.stopping) throw new RunStoppedError('the run was stopped; its folder keeps the last checkpoint, and starting it again resumes from there');
  }
}
