// The environment knobs that pick kernels (runner/host/dawn.ts): EARLYPHASE_KERNELS and EARLYPHASE_TUNE
// are read before any GPU work, and a bad value is one clear error naming the variable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dawnToggles, kernelsOverride, tuneOverrides } from '../../runner/host/dawn.ts';

function withEnv<T>(name: string, value: string | undefined, f: () => T): T {
  const before = process.env[name];
  if (value === undefined) delete process.env[name]; else process.env[name] = value;
  try { return f(); } finally { if (before === undefined) delete process.env[name]; else process.env[name] = before; }
}

test('EARLYPHASE_KERNELS: unset picks by adapter, cpu/gpu override, anything else is refused', () => {
  assert.equal(withEnv('EARLYPHASE_KERNELS', undefined, kernelsOverride), null);
  assert.equal(withEnv('EARLYPHASE_KERNELS', 'gpu', kernelsOverride), 'gpu');
  assert.equal(withEnv('EARLYPHASE_KERNELS', 'cpu', kernelsOverride), 'cpu');
  assert.throws(() => withEnv('EARLYPHASE_KERNELS', 'fast', kernelsOverride), /EARLYPHASE_KERNELS=fast: expected cpu or gpu/);
});

test('EARLYPHASE_TUNE: name=number pairs, anything else is refused', () => {
  assert.deepEqual(withEnv('EARLYPHASE_TUNE', undefined, tuneOverrides), {});
  assert.deepEqual(withEnv('EARLYPHASE_TUNE', 'convSplitThreads=0, convWeightGradPixels=1', tuneOverrides),
    { convSplitThreads: 0, convWeightGradPixels: 1 });
  assert.throws(() => withEnv('EARLYPHASE_TUNE', 'convSplitThreads', tuneOverrides), /EARLYPHASE_TUNE: "convSplitThreads" is not name=number/);
  assert.throws(() => withEnv('EARLYPHASE_TUNE', 'a=1e', tuneOverrides), /not name=number/);
});

test('EARLYPHASE_DAWN_TOGGLES: a list of toggle names, anything else is refused', () => {
  assert.deepEqual(withEnv('EARLYPHASE_DAWN_TOGGLES', undefined, dawnToggles), []);
  assert.deepEqual(withEnv('EARLYPHASE_DAWN_TOGGLES', 'disable_robustness, skip_validation', dawnToggles), ['disable_robustness', 'skip_validation']);
  assert.throws(() => withEnv('EARLYPHASE_DAWN_TOGGLES', 'disable-robustness', dawnToggles), /EARLYPHASE_DAWN_TOGGLES: "disable-robustness" is not a Dawn toggle name/);
});
