// `--init-weights FILE` on train and lottery. The file is read once (bounded), handed to the
// engine under its SHA-256 (src/train/init-weights.ts), and the hyperparameter flag
// --init-weights-sha256=<hex> is added to the command's own: the folder hash,
// --display-output-location and hparams.json then all name the file's content, and every later
// step (presets, --pretrain overrides, hashing) treats it like any other hyperparameter.
// checkInitWeights decodes it for the run's model before any GPU work.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { UserError } from '../../src/errors.ts';
import type { Hparams } from '../../src/train/hparams.ts';
import type { ModelSpec } from '../../src/nn/graph.ts';
import { hasInitWeights, initWeightsFor, provideInitWeights } from '../../src/train/init-weights.ts';
import { stateLayout } from '../../src/nn/model-state.ts';

/** Larger than any zoo model's weights file (VGG-19: 80 MB) by a wide margin; a bound on what a wrong path can cost. */
export const MAX_INIT_WEIGHTS_BYTES = 2 ** 30;

const SHA_FLAG = /^--init[-_]weights[-_]sha256(=|$)/;

function readBounded(file: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new UserError(`--init-weights ${file}: cannot open it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UserError(`--init-weights ${file} is not a file; give a weights file (.safetensors)`);
    if (st.size > MAX_INIT_WEIGHTS_BYTES) throw new UserError(`--init-weights ${file} holds ${st.size} bytes, more than any model's weights (limit ${MAX_INIT_WEIGHTS_BYTES}); is it the right file?`);
    const bytes = new Uint8Array(st.size);
    for (let at = 0; at < bytes.length;) {
      const n = readSync(fd, bytes, at, bytes.length - at, at);
      if (n === 0) throw new UserError(`--init-weights ${file} shrank while being read; try again`);
      at += n;
    }
    return bytes;
  } finally {
    closeSync(fd);
  }
}

/**
 * argv with --init-weights-sha256=<hex of FILE> added (unchanged without a file). The file's bytes
 * are registered for the run to start from; a PyTorch pickle (.pth) is refused with how to convert it.
 */
export function argvWithInitWeights(argv: readonly string[], file: string | undefined): string[] {
  if (file === undefined) return [...argv];
  if (argv.some((a) => SHA_FLAG.test(a))) throw new UserError('give --init-weights FILE or --init-weights-sha256 HEX, not both (--init-weights sets it to the SHA-256 of FILE)');
  const bytes = readBounded(file);
  // torch.save writes a zip archive (PK\x03\x04) or, before PyTorch 1.6, a bare pickle (0x80, protocol
  // 2-5); read as safetensors, either one's first 8 bytes give a header longer than the file.
  const zip = bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  const pickle = bytes[0] === 0x80 && bytes[1]! >= 2 && bytes[1]! <= 5;
  const headerEnd = bytes.length >= 8 ? Number(new DataView(bytes.buffer).getBigUint64(0, true)) + 8 : Infinity;
  if ((zip || pickle) && headerEnd > bytes.length) {
    throw new UserError(`--init-weights ${file} is a PyTorch pickle, not safetensors; save its state_dict as safetensors first, ` +
      'e.g. safetensors_io.save(OUT, torch.load(FILE, map_location="cpu")) with runner/tools/interop/safetensors_io.py');
  }
  return [...argv, `--init-weights-sha256=${provideInitWeights(file, bytes)}`];
}

/**
 * Before any GPU work: when the hyperparameters name starting weights, they were given with
 * --init-weights and decode for `spec` (OpenLTH's names and the model's shapes, float32, finite);
 * errors are one line naming the file and the tensor.
 */
export function checkInitWeights(h: Hparams, spec: ModelSpec): void {
  const sha = h.model.init_weights_sha256;
  if (sha === undefined) return;
  if (!hasInitWeights(sha)) throw new UserError(`--init-weights-sha256 ${sha} names starting weights by their SHA-256; give the file itself with --init-weights FILE`);
  const { params, stats } = stateLayout(spec);
  initWeightsFor(sha, params, stats);
}
