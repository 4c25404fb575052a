// What a worker does with a job that threw: the one place that decides between BullMQ's retries
// and failing at once. Input errors would fail the same way on every worker; data missing here
// and a lost GPU are this machine's problem, so another worker (or a later attempt) may succeed.
import { UserError } from '../../src/errors.ts';
import { RunStoppedError } from '../../src/train/control.ts';
import { GpuUnavailableError } from '../../src/gpu/errors.ts';
import { DatasetNotFoundError } from '../datasets.ts';

export type FailureAction =
  /** SIGTERM stopped the job: back to the queue, no attempt used. */
  | 'hand-back'
  /** An attempt is used; BullMQ retries with backoff until the attempts run out. */
  | 'retry'
  /** As 'retry', and this worker's GPU is gone: it stops taking jobs. */
  | 'retry-and-exit'
  /** Fails at once, no retry (UnrecoverableError). */
  | 'fail';

export function failureAction(e: unknown, shuttingDown: boolean): FailureAction {
  if (e instanceof RunStoppedError) return shuttingDown ? 'hand-back' : 'retry'; // not shutting down: the run-folder lock was lost
  if (e instanceof GpuUnavailableError) return 'retry-and-exit';
  if (e instanceof DatasetNotFoundError) return 'retry';
  if (e instanceof UserError) return 'fail';
  return 'retry';
}
