// Which adapters the GPU tests run on: every adapter Dawn sees. The adapters named in
// EARLYPHASE_REQUIRE_ADAPTERS (default "llvmpipe,swiftshader", the two CPU drivers setup.sh
// installs) must be among them, so a missing driver fails the suite instead of skipping it.
import { listAdapters } from '../runner/host/dawn.ts';

export async function testAdapters(): Promise<string[]> {
  const names = (await listAdapters()).map((a) => a.name);
  const required = (process.env.EARLYPHASE_REQUIRE_ADAPTERS ?? 'llvmpipe,swiftshader').split(',').map((s) => s.trim()).filter(Boolean);
  const missing = required.filter((r) => !names.some((n) => n.toLowerCase().includes(r.toLowerCase())));
  if (missing.length) {
    throw new Error(`required adapters missing: ${missing.join(', ')} (found: ${names.join(', ') || 'none'}); ` +
      'run `bash runner/setup.sh` as root, or set EARLYPHASE_REQUIRE_ADAPTERS to what this machine has');
  }
  const only = process.env.EARLYPHASE_TEST_ADAPTERS;
  return only ? names.filter((n) => only.split(',').some((o) => n.toLowerCase().includes(o.trim().toLowerCase()))) : names;
}

/**
 * One adapter for tests that need any adapter but not all of them (error paths, heavy end-to-end
 * runs): a real GPU when present, else lavapipe (faster than SwiftShader), else the first one.
 */
export async function fastestTestAdapter(): Promise<string> {
  const names = await testAdapters();
  const cpu = (n: string) => /llvmpipe|swiftshader/i.test(n);
  const pick = names.find((n) => !cpu(n)) ?? names.find((n) => /llvmpipe/i.test(n)) ?? names[0];
  if (!pick) throw new Error('no WebGPU adapter for the tests; run `bash runner/setup.sh` as root');
  return pick;
}
