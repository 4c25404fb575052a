"""A minimal safetensors reader and writer for PyTorch tensors, standard library + torch only.

The format (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of UTF-8
JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the
raw little-endian tensor bytes, offsets relative to the end of the header. Like the TypeScript
reader (src/io/safetensors.ts) it trusts nothing in the header: sizes are bounded, every tensor's
byte span must match its dtype and shape, and the tensors must tile the data section exactly.
Errors are one line starting with the file's name.
"""
import json
import math
import sys

import torch

DTYPES = {
    'F32': torch.float32, 'F64': torch.float64, 'I64': torch.int64,
    'I32': torch.int32, 'U8': torch.uint8,
}
NAMES = {v: k for k, v in DTYPES.items()}
MAX_HEADER = 16 * 2 ** 20  # the TypeScript reader's limit: 300x the largest header we write
METADATA = '__metadata__'

if sys.byteorder != 'little':
    raise ImportError('safetensors_io assumes a little-endian machine')


class SafetensorsError(ValueError):
    pass


def load(path):
    """(tensors, metadata) of a file: {name: torch.Tensor} (CPU, own memory) and {str: str}."""
    with open(path, 'rb') as f:
        data = f.read()
    return decode(data, str(path))


def decode(data, name):
    def fail(what):
        raise SafetensorsError(f'{name}: {what}')

    if len(data) < 8:
        fail(f'truncated: {len(data)} bytes, too short for the 8-byte header length')
    n = int.from_bytes(data[:8], 'little')
    if n > MAX_HEADER:
        fail(f'header length {n} exceeds {MAX_HEADER} bytes (not a safetensors file, or corrupt)')
    if 8 + n > len(data):
        fail(f'header length {n} runs past the end of the file ({len(data)} bytes): truncated?')
    try:
        header = json.loads(data[8:8 + n].decode('utf-8'))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        fail(f'header is not UTF-8 JSON: {e}')
    if not isinstance(header, dict):
        fail('header is not a JSON object')
    metadata = header.pop(METADATA, {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        fail(f'"{METADATA}" must be an object of strings')
    body = memoryview(data)[8 + n:]
    spans, tensors = [], {}
    for key, info in header.items():
        if not isinstance(info, dict) or set(info) != {'dtype', 'shape', 'data_offsets'}:
            fail(f'tensor {key!r}: expected exactly dtype, shape, data_offsets')
        dtype, shape, offsets = info['dtype'], info['shape'], info['data_offsets']
        if dtype not in DTYPES:
            fail(f'tensor {key!r}: unsupported dtype {dtype!r} (this reader handles {", ".join(DTYPES)})')
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            fail(f'tensor {key!r}: shape must be a list of non-negative integers')
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(o, int) and o >= 0 for o in offsets)
                or offsets[0] > offsets[1]):
            fail(f'tensor {key!r}: data_offsets must be [begin, end] with 0 <= begin <= end')
        begin, end = offsets
        size = torch.empty((), dtype=DTYPES[dtype]).element_size()
        if math.prod(shape) * size != end - begin:
            fail(f'tensor {key!r}: {dtype} {shape} needs {math.prod(shape) * size} bytes, data_offsets span {end - begin}')
        spans.append((begin, end, key))
        # bytearray: a writable copy, so torch owns its memory (no warning, no aliasing of `data`).
        raw = bytearray(body[begin:end]) if end <= len(body) else None
        if raw is None:
            fail(f'tensor {key!r}: data_offsets [{begin}, {end}] run past the data section ({len(body)} bytes)')
        t = torch.frombuffer(raw, dtype=DTYPES[dtype]) if raw else torch.empty(0, dtype=DTYPES[dtype])
        tensors[key] = t.reshape(shape)
    covered = 0
    for begin, end, key in sorted(spans):
        if begin != covered:
            fail(f'tensor {key!r} starts at byte {begin}, expected {covered} (overlap or gap in the data section)')
        covered = end
    if covered != len(body):
        fail(f'data bytes [{covered}, {len(body)}) belong to no tensor')
    return tensors, metadata


def save(path, tensors, metadata=None):
    """Writes {name: torch.Tensor} (any device; stored contiguous, little-endian) and string metadata."""
    with open(path, 'wb') as f:
        f.write(encode(tensors, metadata))


def encode(tensors, metadata=None):
    header, chunks, offset = {}, [], 0
    if metadata:
        header[METADATA] = {str(k): str(v) for k, v in metadata.items()}
    # Largest elements first, then by name: every tensor starts aligned to its element size.
    order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
    for key in order:
        t = tensors[key].detach().cpu().contiguous()
        if t.dtype not in NAMES:
            raise SafetensorsError(f'tensor {key!r}: dtype {t.dtype} is not one of {", ".join(DTYPES)}')
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b''
        header[key] = {'dtype': NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode('utf-8')
    text += b' ' * (-(8 + len(text)) % 8)  # pad so the data starts 8-byte aligned
    return len(text).to_bytes(8, 'little') + text + b''.join(chunks)
