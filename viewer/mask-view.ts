// What survives pruning, as pictures: the first prunable layer's mask drawn as one tile per unit
// (white = kept, black = pruned). For a fully connected first layer on 28×28 images each unit's
// 784 inputs form a 28×28 tile, so the pixels a unit still looks at are visible; for a conv first
// layer each filter's k×k kernels (one per input channel) are tiles, magnified.
import { decodeSafetensors, type Tensor } from '../src/io/safetensors.ts';

const GAP = 1;

/** The first tensor of a mask.safetensors file (layer order), or null when it has none. */
export function firstLayerMask(bytes: Uint8Array, name: string): { name: string; tensor: Tensor } | null {
  const { tensors } = decodeSafetensors(bytes, name);
  // Names sort as the model lists them for the layers we show (conv_layers.0, fc_layers.0 first).
  const first = [...tensors.keys()].sort(layerOrder)[0];
  return first ? { name: first, tensor: tensors.get(first)! } : null;
}

function layerOrder(a: string, b: string): number {
  const rank = (n: string) => (n.startsWith('conv') ? 0 : n.startsWith('fc_layers') ? 1 : 2);
  return rank(a) - rank(b) || a.localeCompare(b, 'en', { numeric: true });
}

/** Tile grid for a weight of `shape` on images of h×w: [tiles, tileH, tileW, scale]. */
export function tiling(shape: readonly number[], image: readonly [number, number]): { tiles: number; th: number; tw: number; scale: number } | null {
  if (shape.length === 2 && shape[1] === image[0] * image[1]) return { tiles: shape[0]!, th: image[0], tw: image[1], scale: 1 };
  if (shape.length === 4) return { tiles: shape[0]! * shape[1]!, th: shape[2]!, tw: shape[3]!, scale: 6 };
  return null;
}

/** Draws the mask on `canvas`; returns the kept fraction, or null when the layer has no image-shaped tiles. */
export function drawMask(canvas: HTMLCanvasElement, t: Tensor, image: readonly [number, number]): number | null {
  const g = tiling(t.shape, image);
  if (!g) return null;
  const per = g.th * g.tw, cols = Math.ceil(Math.sqrt(g.tiles * 4 / 3));
  const rows = Math.ceil(g.tiles / cols);
  const cw = g.tw * g.scale + GAP, ch = g.th * g.scale + GAP;
  canvas.width = cols * cw - GAP; canvas.height = rows * ch - GAP;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(canvas.width, canvas.height);
  img.data.fill(0);
  let kept = 0;
  for (let k = 0; k < g.tiles; k++) {
    const ox = (k % cols) * cw, oy = Math.floor(k / cols) * ch;
    for (let i = 0; i < per; i++) {
      const on = t.data[k * per + i] !== 0;
      kept += on ? 1 : 0;
      const v = on ? 255 : 0;
      const px = ox + (i % g.tw) * g.scale, py = oy + Math.floor(i / g.tw) * g.scale;
      for (let dy = 0; dy < g.scale; dy++) {
        for (let dx = 0; dx < g.scale; dx++) {
          const o = ((py + dy) * canvas.width + px + dx) * 4;
          img.data[o] = img.data[o + 1] = img.data[o + 2] = v; img.data[o + 3] = 255;
        }
      }
    }
  }
  ctx.putImageData(img, 0, 0);
  return kept / (g.tiles * per);
}
