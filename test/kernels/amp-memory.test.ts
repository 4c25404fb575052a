// Mixed precision (--apex-fp16) saves memory where it matters for packs: the GPU memory one more
// ResNet-20 member (batch 128) adds to a pack, with and without the mode, both kernel sets, as the
// training bench counts it (runner/tools/training-cases.ts: every buffer created while the trainer's
// TrainPack is built; the dataset, which members share, excluded). The bar: at least 40%
// less. Measured 2026-12-06: 360.2 → 135.4 MiB ('cpu' set), 292.1 → 159.3 MiB ('gpu' set).
// Buffer sizes do not depend on the adapter, so lavapipe alone (the fastest) builds them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openGpu } from '../../runner/host/dawn.ts';
import { buildOurStep, TRAINING_CASES } from '../../runner/tools/training-cases.ts';
import type { AdapterClass } from '../../src/gpu/gpu.ts';
import { fastestTestAdapter } from '../adapters.ts';

const MiB = 2 ** 20;

test('mixed precision: a ResNet-20 pack member needs at least 40% less GPU memory, both kernel sets', async () => {
  const gpu = await openGpu(await fastestTestAdapter());
  try {
    const c = TRAINING_CASES.find((x) => x.model === 'cifar_resnet_20')!;
    const rows: string[] = [];
    for (const set of ['cpu', 'gpu'] as AdapterClass[]) {
      gpu.kernels = set;
      const perMember: Record<string, number> = {};
      for (const amp of [false, true]) {
        const total = (k: number) => {
          const s = buildOurStep(gpu, c, 1, 128, k, amp);
          s.destroy();
          return s.memory.total - s.memory.bytes.dataset;
        };
        perMember[String(amp)] = total(2) - total(1);
      }
      const [f32, half] = [perMember.false!, perMember.true!];
      rows.push(`'${set}' set: ${(f32 / MiB).toFixed(1)} → ${(half / MiB).toFixed(1)} MiB per member (−${(100 * (1 - half / f32)).toFixed(1)}%)`);
      assert.ok(half <= 0.6 * f32, rows.at(-1));
    }
    console.log(rows.join("; "));
  } finally {
    gpu.destroy();
  }
});
