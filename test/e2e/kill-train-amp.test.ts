// Mixed precision (--apex-fp16) survives a kill: SIGKILL before chosen file operations of a LeNet
// `train --apex-fp16`, then resume; every file of the run folder must end byte-identical to an
// uninterrupted run's (test/fault/kill-suite.ts) — the weights, metrics.csv with its
// amp_skipped_steps and amp_loss_scale rows, and the checkpoints, whose metadata carries the loss
// scaler (amp_scale, amp_growth_tracker) that a resumed run must continue from.
import { TRAIN, killSuite } from '../fault/kill-suite.ts';

// What mixed precision adds to a resume is the scaler's state in the checkpoint, so the kills tried
// are the two that resume from one (kill-train.test.ts spreads its kills over every stage of a run).
killSuite('train --apex-fp16', [...TRAIN, '--apex-fp16'], 0);
