// Checks that a screenshot shows a drawn chart, not a blank canvas: a minimal PNG decoder (enough
// for what Chromium writes) and a count of the plot area's colours. Shared by the report and
// results-browser tests, which both screenshot viewer/charts.ts figures.
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';

/** Minimal PNG decoder (8-bit RGB/RGBA, non-interlaced — what Chromium writes): RGBA rows. */
function decodePng(bytes: Buffer): { width: number; height: number; rgba: Uint8Array } {
  assert.equal(bytes.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'PNG signature');
  let width = 0, height = 0, channels = 0;
  const idat: Buffer[] = [];
  for (let p = 8; p < bytes.length;) {
    const len = bytes.readUInt32BE(p), type = bytes.toString('ascii', p + 4, p + 8), data = bytes.subarray(p + 8, p + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4);
      assert.equal(data[8], 8, 'bit depth'); assert.equal(data[12], 0, 'interlace');
      channels = ({ 2: 3, 6: 4 } as Record<number, number>)[data[9]!]!;
      assert.ok(channels, `colour type ${data[9]}`);
    } else if (type === 'IDAT') idat.push(data);
    p += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels, px = new Uint8Array(height * stride), rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!, src = y * (stride + 1) + 1;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? px[y * stride + x - channels]! : 0, b = y > 0 ? px[(y - 1) * stride + x]! : 0;
      const c = x >= channels && y > 0 ? px[(y - 1) * stride + x - channels]! : 0;
      const paeth = () => { const q = a + b - c, pa = Math.abs(q - a), pb = Math.abs(q - b), pc = Math.abs(q - c); return pa <= pb && pa <= pc ? a : pb <= pc ? b : c; };
      const pred = [0, a, b, (a + b) >> 1, paeth()][filter]!;
      px[y * stride + x] = (raw[src + x]! + pred) & 255;
    }
  }
  for (let i = 0; i < width * height; i++) for (let k = 0; k < 4; k++) rgba[i * 4 + k] = k < channels ? px[i * channels + k]! : 255;
  return { width, height, rgba };
}

/** The page's first series colour (#0969da), drawn by every chart with data. */
const FIRST_SERIES = [0x09, 0x69, 0xda];

/** In the middle of the image (the plot area): distinct colours, and pixels in the first series' colour. */
function plotInk(png: Buffer): { colours: number; series: number } {
  const { width, height, rgba } = decodePng(png);
  const colours = new Set<number>();
  let series = 0;
  for (let y = Math.floor(height * 0.1); y < height * 0.7; y++) {
    for (let x = Math.floor(width * 0.12); x < width * 0.95; x++) {
      const i = (y * width + x) * 4, r = rgba[i]!, g = rgba[i + 1]!, b = rgba[i + 2]!;
      colours.add((r << 16) | (g << 8) | b);
      if (r === FIRST_SERIES[0] && g === FIRST_SERIES[1] && b === FIRST_SERIES[2]) series++;
    }
  }
  return { colours: colours.size, series };
}

/** Fails when the chart in `png` looks blank (few colours, or hardly any of the first series' line). */
export function assertChartDrawn(png: Buffer, what: string): void {
  const { colours, series } = plotInk(png);
  assert.ok(colours >= 20 && series >= 10, `${what}: ${colours} colours, ${series} pixels of the first series — chart looks blank`);
}
