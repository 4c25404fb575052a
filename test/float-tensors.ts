// Tests that do arithmetic on a file's tensors want numbers, not bigints: safetensors' I64 (PyTorch's
// batch-norm `num_batches_tracked`) decodes to a BigInt64Array. The files those tests read are
// LeNet's (no batch norm), so an I64 tensor there is a surprise and fails the test by name.
import type { Tensor, TensorData } from '../src/io/safetensors.ts';

export type FloatTensor = Tensor & { data: Exclude<TensorData, BigInt64Array> };

export function floatTensors(tensors: ReadonlyMap<string, Tensor>, file: string): Map<string, FloatTensor> {
  for (const [name, t] of tensors) {
    if (t.data instanceof BigInt64Array) throw new Error(`${file}: tensor ${name} is ${t.dtype}; this test expects number tensors only`);
  }
  return tensors as Map<string, FloatTensor>;
}
