// Debian's Chromium driven through playwright-core (Playwright's own browser download is not
// available here). Flags: WebGPU on, and no background networking, which would
// otherwise keep trying to reach the internet from a machine that has none.
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

export const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function chromiumPath(): string {
  const p = process.env.EARLYPHASE_CHROMIUM ?? CHROMIUM_PATHS.find((c) => existsSync(c));
  if (!p) throw new Error(`no Chromium found (looked at ${CHROMIUM_PATHS.join(', ')}); run \`bash runner/setup.sh\` as root or set EARLYPHASE_CHROMIUM`);
  return p;
}

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-webgpu-adapter=swiftshader',
      '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-first-run', '--disable-quic', '--disable-gpu-sandbox',
    ],
  });
}
