// A model is a small tree of layer nodes with OpenLTH parameter names. The same tree gives the
// parameter list (names, shapes, prunable, init), the parameter counts `earlyphase models` prints,
// and — compiled against a batch size — the forward and backward dispatch lists.

export type Node =
  | { op: 'conv'; name: string; cin: number; cout: number; k: number; stride: number; pad: number; bias: boolean }
  | { op: 'bn'; name: string; c: number }
  | { op: 'linear'; name: string; in: number; out: number }
  | { op: 'relu' }
  | { op: 'maxpool2' }
  | { op: 'avgpool'; k: number }
  | { op: 'gap' }
  | { op: 'flatten' }
  /** y = body(x) + shortcut(x); an empty shortcut is the identity. */
  | { op: 'residual'; body: Node[]; shortcut: Node[] };

export type Init = 'kaiming_normal' | 'bias_uniform' | 'bn_gamma' | 'zeros';

export interface ParamSpec {
  name: string;
  shape: number[];
  /** Conv and linear weights: the tensors IMP may prune. */
  prunable: boolean;
  init: Init;
  /** fan_in of the layer the tensor belongs to (for Kaiming std √(2/fan_in) and PyTorch's bias bound 1/√fan_in). */
  fanIn: number;
}

export interface ModelSpec {
  name: string;
  /** Input [C, H, W] per sample. */
  input: [number, number, number];
  classes: number;
  layers: Node[];
  /** Tensors OpenLTH leaves unpruned for this model by default (pruning_layers_to_ignore). */
  defaultIgnored: string[];
}

export function parameters(layers: readonly Node[]): ParamSpec[] {
  const out: ParamSpec[] = [];
  for (const n of layers) {
    switch (n.op) {
      case 'conv': {
        const fanIn = n.cin * n.k * n.k;
        out.push({ name: `${n.name}.weight`, shape: [n.cout, n.cin, n.k, n.k], prunable: true, init: 'kaiming_normal', fanIn });
        if (n.bias) out.push({ name: `${n.name}.bias`, shape: [n.cout], prunable: false, init: 'bias_uniform', fanIn });
        break;
      }
      case 'linear':
        out.push({ name: `${n.name}.weight`, shape: [n.out, n.in], prunable: true, init: 'kaiming_normal', fanIn: n.in });
        out.push({ name: `${n.name}.bias`, shape: [n.out], prunable: false, init: 'bias_uniform', fanIn: n.in });
        break;
      case 'bn':
        out.push({ name: `${n.name}.weight`, shape: [n.c], prunable: false, init: 'bn_gamma', fanIn: n.c });
        out.push({ name: `${n.name}.bias`, shape: [n.c], prunable: false, init: 'zeros', fanIn: n.c });
        break;
      case 'residual':
        out.push(...parameters(n.body), ...parameters(n.shortcut));
        break;
      default:
        break;
    }
  }
  return out;
}

/**
 * The parameters autocast runs in f16 under mixed precision (--apex-fp16): conv and linear weights
 * and biases. Batch norm keeps f32 parameters (cuDNN's mixed batch norm).
 */
export function autocastParameters(layers: readonly Node[]): Set<string> {
  const out = new Set<string>();
  for (const n of layers) {
    if (n.op === 'conv' || n.op === 'linear') {
      out.add(`${n.name}.weight`);
      if (n.op === 'linear' || n.bias) out.add(`${n.name}.bias`);
    } else if (n.op === 'residual') for (const p of [...autocastParameters(n.body), ...autocastParameters(n.shortcut)]) out.add(p);
  }
  return out;
}

/** Batch-norm running statistics (buffers, not parameters: not trained, not pruned, but checkpointed). */
export function buffers(layers: readonly Node[]): { name: string; shape: number[]; init: 'zeros' | 'ones' }[] {
  const out: { name: string; shape: number[]; init: 'zeros' | 'ones' }[] = [];
  for (const n of layers) {
    if (n.op === 'bn') {
      out.push({ name: `${n.name}.running_mean`, shape: [n.c], init: 'zeros' }, { name: `${n.name}.running_var`, shape: [n.c], init: 'ones' });
    } else if (n.op === 'residual') out.push(...buffers(n.body), ...buffers(n.shortcut));
  }
  return out;
}

export function countParameters(spec: ModelSpec): { total: number; prunable: number } {
  let total = 0, prunable = 0;
  for (const p of parameters(spec.layers)) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    total += n;
    if (p.prunable) prunable += n;
  }
  return { total, prunable };
}
