"""PyTorch's side of the interop test (test/unit/pytorch-interop.test.ts); also usable by hand.

  spec    --model M [--input C,H,W] [--classes K] --out F.json
          the state_dict's names, shapes and dtypes of OpenLTH's model, as JSON
  forward --model M [--input C,H,W] [--classes K] --weights W.safetensors --batch B.safetensors --out O.safetensors [--train] [--float64]
          loads W with load_state_dict(strict=True), runs the batch (tensor "x", N x C x H x W), writes
          "logits" and, with --train (training-mode batch norm), every buffer after the step
  init    --model M [--input C,H,W] [--classes K] --seed S --out W.safetensors
          a PyTorch-initialised state_dict (random batch-norm statistics, so eval mode is not the identity)
  jobs    --file J.json   runs a JSON list of argument lists in one process (torch imports once)
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import openlth_models  # noqa: E402
import safetensors_io  # noqa: E402

DTYPE_NAMES = {torch.float32: 'F32', torch.float64: 'F64', torch.int64: 'I64'}


def model_of(args):
    shape = tuple(int(v) for v in args.input.split(',')) if args.input else None
    return openlth_models.build_model(args.model, shape, args.classes)


def spec(args):
    sd = model_of(args).state_dict()
    out = {k: {'shape': list(v.shape), 'dtype': DTYPE_NAMES[v.dtype]} for k, v in sd.items()}
    with open(args.out, 'w') as f:
        json.dump(out, f)


def forward(args):
    model = model_of(args)
    tensors, _ = safetensors_io.load(args.weights)
    model.load_state_dict(tensors, strict=True)  # the point of the exercise: no missing or unexpected names
    batch, _ = safetensors_io.load(args.batch)
    x = batch['x']
    if args.float64:
        model, x = model.double(), x.double()
    model.train(args.train)
    with torch.no_grad():
        logits = model(x)
    out = {'logits': logits}
    if args.train:
        out.update({k: v for k, v in model.state_dict().items() if 'running' in k or 'num_batches_tracked' in k})
    safetensors_io.save(args.out, out)


def init(args):
    torch.manual_seed(args.seed)
    model = model_of(args)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 2)
            m.num_batches_tracked.fill_(args.seed)
    safetensors_io.save(args.out, model.state_dict(), {'format': 'pytorch', 'model': args.model})


def parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='command', required=True)
    for name, fn in [('spec', spec), ('forward', forward), ('init', init)]:
        s = sub.add_parser(name)
        s.set_defaults(fn=fn)
        s.add_argument('--model', required=True)
        s.add_argument('--input', help='C,H,W of the images (default: the family\'s own)')
        s.add_argument('--classes', type=int, default=10)
        s.add_argument('--out', required=True)
    f = sub.choices['forward']
    f.add_argument('--weights', required=True)
    f.add_argument('--batch', required=True)
    f.add_argument('--train', action='store_true')
    f.add_argument('--float64', action='store_true')
    sub.choices['init'].add_argument('--seed', type=int, required=True)
    sub.add_parser('jobs').add_argument('--file', required=True)
    return p


def main(argv):
    args = parser().parse_args(argv)
    if args.command != 'jobs':
        return args.fn(args)
    with open(args.file) as f:
        for job in json.load(f):
            main(job)


if __name__ == '__main__':
    torch.set_grad_enabled(False)
    main(sys.argv[1:])
