// Telemetry read back from the GPU during training agrees with a float64 recomputation from the
// weights saved at the same iterations (relative 1e-5), and trajectories are the saved values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors } from '../../src/io/safetensors.ts';
import { parseMetrics } from '../../src/train/metrics.ts';
import { telemetrySchedule, DEFAULT_TELEMETRY } from '../../src/train/telemetry.ts';
import { tempDir } from '../temp-dir.ts';
import { floatTensors } from '../float-tensors.ts';
import { earlyphase, lastJson } from '../cli.ts';


test('telemetry schedule: every iteration to 100, log-spaced to 4000, then every epoch', () => {
  const s = [...telemetrySchedule(DEFAULT_TELEMETRY, 0, 20_000, 391)];
  for (let i = 1; i <= 100; i++) assert.ok(s.includes(i));
  const mid = s.filter((i) => i > 100 && i <= 4000 && i % 391 !== 0);
  assert.ok(mid.length >= 25 && mid.length <= 40, `${mid.length} log-spaced points`);
  assert.ok(s.includes(391 * 20) && s.includes(20_000));
  assert.ok(!s.some((i) => i > 4000 && i % 391 !== 0 && i !== 20_000));
});

test('telemetry equals a float64 recomputation from the saved weights', async () => {
  const root = tempDir('earlyphase-telemetry-');
  const r = await earlyphase(['train', '--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist',
    '--subsample-fraction', '0.05', '--training-steps', '2ep', '--telemetry', '--save-steps', '7it,30it', '--adapter', 'llvmpipe',
    '--quiet', '--root', root]);
  assert.equal(r.status, 0, r.err);
  const dir = lastJson(r.out).run as string;
  const rows = parseMetrics(readFileSync(join(dir, 'metrics.csv'), 'utf8'), 'metrics.csv');
  const get = (name: string, it: number) => {
    const row = rows.find((x) => x.name === name && x.iteration === it);
    assert.ok(row, `no row ${name} at ${it}`);
    return row!.value;
  };
  const load = (f: string) => floatTensors(decodeSafetensors(new Uint8Array(readFileSync(join(dir, f))), f).tensors, f);
  const start = load('model_ep0_it0.safetensors');
  // 3,000 examples / 128 = 24 iterations per epoch: iteration 30 is model_ep1_it6.
  for (const [it, file] of [[7, 'model_ep0_it7.safetensors'], [30, 'model_ep1_it6.safetensors']] as const) {
    const w = load(file);
    let gAbs = 0, gCount = 0, gSign = 0, gDist = 0, gDot = 0, gW = 0, gS = 0;
    for (const [name, t] of w) {
      if (name.includes('running')) continue;
      const s = start.get(name)!.data;
      let abs = 0, sign = 0, dist = 0, dot = 0, ww = 0, ss = 0;
      for (let i = 0; i < t.data.length; i++) {
        const a = t.data[i]!, b = s[i]!;
        abs += Math.abs(a); sign += Math.sign(a) !== Math.sign(b) ? 1 : 0; dist += (a - b) ** 2; dot += a * b; ww += a * a; ss += b * b;
      }
      const n = t.data.length;
      const close = (metric: string, expected: number) => {
        const got = get(`telemetry/${metric}/${name}`, it);
        assert.ok(Math.abs(got - expected) <= 1e-5 * Math.abs(expected) + 1e-9, `${metric}/${name} at ${it}: ${got} vs ${expected}`);
      };
      close('mean_magnitude', abs / n); close('sign_changed', sign / n); close('l2_to_start', Math.sqrt(dist));
      close('cosine_to_start', dot / Math.sqrt(ww * ss));
      gAbs += abs; gCount += n; gSign += sign; gDist += dist; gDot += dot; gW += ww; gS += ss;
    }
    const g = (m: string) => get(`telemetry/${m}/global`, it);
    assert.ok(Math.abs(g('mean_magnitude') - gAbs / gCount) <= 1e-5 * gAbs / gCount);
    assert.ok(Math.abs(g('sign_changed') - gSign / gCount) <= 1e-9 + 1e-5 * gSign / gCount);
    assert.ok(Math.abs(g('l2_to_start') - Math.sqrt(gDist)) <= 1e-5 * Math.sqrt(gDist));
    assert.ok(Math.abs(g('cosine_to_start') - gDot / Math.sqrt(gW * gS)) <= 1e-5);
    assert.ok(g('sign_changed') > 0 && g('l2_to_start') > 0, 'the weights moved');
    assert.ok(Number.isFinite(g('grad_norm')) && g('grad_norm') > 0);
    for (const row of rows.filter((x) => x.iteration === it && x.name.startsWith('telemetry/weight/'))) {
      const [, name, index] = /^telemetry\/weight\/(.+)\[(\d+)\]$/.exec(row.name)!;
      assert.equal(row.value, w.get(name!)!.data[Number(index)], row.name);
    }
  }
  assert.ok(readdirSync(dir).includes('model_ep0_it7.safetensors'));
  // Distances to the final weights, from the weights kept along the way (1, 2, 5, 10, 20 iterations, 1 epoch…).
  const final = load('model_ep2_it0.safetensors');
  let d = 0;
  for (const [name, t] of final) {
    if (name.includes('running')) continue;
    const s0 = start.get(name)!.data;
    for (let i = 0; i < t.data.length; i++) d += (t.data[i]! - s0[i]!) ** 2;
  }
  const got = get('telemetry/l2_to_final/global', 0);
  assert.ok(Math.abs(got - Math.sqrt(d)) <= 1e-9 * Math.sqrt(d), `l2_to_final at 0: ${got} vs ${Math.sqrt(d)}`);
  for (const it of [1, 2, 5, 10, 20, 24]) assert.ok(rows.some((x) => x.name === 'telemetry/cosine_to_final/global' && x.iteration === it), `no cosine_to_final at ${it}`);
});
