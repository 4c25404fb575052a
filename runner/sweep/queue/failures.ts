// What a worker does with a job that threw: the one place that decides between BullMQ's retries
// and failing at once. Input errors would fail the same way on every worker; data missing here
// and a lost GPU are this machine's problem, so another worker (or a later attempt) may succeed.
// Data missing here costs the job nothing: it goes back to the queue without using an attempt,
// and a worker that fails that way on consecutive jobs stops taking jobs (OWN_FAILURES_TO_STOP)
// instead of burning the attempts of every job it takes.
import { UserError } from '../../../src/errors.ts';
import { RunStoppedError } from '../../../src/train/control.ts';
import { GpuUnavailableError } from '../../../src/gpu/errors.ts';
import { DatasetNotFoundError } from '../../data/datasets.ts';

export type FailureAction =
  /** SIGTERM stopped the job: back to the queue, no attempt used. */
  | 'hand-back'
  /** An attempt is used; BullMQ retries with backoff until the attempts run out. */
  | 'retry'
  /** As 'retry', and this worker's GPU is gone: it stops taking jobs. */
  | 'retry-and-exit'
  /** This worker cannot run it (its data is not here): back to the queue, no attempt used; see OWN_FAILURES_TO_STOP. */
  | 'own'
  /** Fails at once, no retry (UnrecoverableError). */
  | 'fail';

export function failureAction(e: unknown, shuttingDown: boolean): FailureAction {
  if (e instanceof RunStoppedError) return shuttingDown ? 'hand-back' : 'retry'; // not shutting down: the run-folder lock was lost
  if (e instanceof GpuUnavailableError) return 'retry-and-exit';
  if (e instanceof DatasetNotFoundError) return shuttingDown ? 'hand-back' : 'own';
  if (e instanceof UserError) return 'fail';
  return 'retry';
}

/** Consecutive jobs a worker hands back for a reason of its own (failureAction 'own') before it stops taking jobs. */
export const OWN_FAILURES_TO_STOP = 2;

/** The worker's exit code when it stopped because it cannot run jobs here (its data is missing, its GPU is gone). */
export const EXIT_CANNOT_RUN_HERE = 3;
