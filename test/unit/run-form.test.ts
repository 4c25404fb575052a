// The browser tab's run form becomes the CLI's argv (viewer/run-form.ts); these check that the
// mixed-precision box reaches the hyperparameters and that the command line the page shows for a
// run is one the real CLI accepts, so a tab run can be repeated in a terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commandLine, parseRunForm, type RunFormValues } from '../../viewer/run-form.ts';
import { refusal } from '../cli-parse.ts';

const FORM: RunFormValues = {
  model: 'mnist_lenet_300_100', dataset: 'fashion_mnist', trainingSteps: '2ep', subsample: '3000',
  rewindingSteps: '10it', levels: '2', pruningFraction: '0.2', branch: '', branchOptions: {}, retrainFlags: '',
  pretrain: null, telemetry: false, evaluateOnlyAtEnd: true, replicate: '1', extra: '',
};

/** The page's command line as argv (its quoting is only needed for spaces, which these forms have none of). */
const argvOf = (line: string) => line.split(/\s+/).slice(1);

test('run form: the mixed-precision box sets apex_fp16 and the shown command carries --apex-fp16', async () => {
  const off = parseRunForm(FORM, 60_000);
  assert.equal(off.hparams.training.apex_fp16, false);
  assert.ok(!commandLine(off).includes('--apex-fp16'), commandLine(off));

  const on = parseRunForm({ ...FORM, apexFp16: true }, 60_000);
  assert.equal(on.hparams.training.apex_fp16, true);
  const line = commandLine(on);
  assert.match(line, /^earlyphase lottery .*--apex-fp16/);
  assert.equal(await refusal(argvOf(line)), null, `the CLI refuses the page's command: ${line}`);
});
