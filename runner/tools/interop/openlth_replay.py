"""OpenLTH's lottery recipe in PyTorch's own training loop, replaying an earlyphase lottery from the
same starting weights and the same batch composition (test/e2e/openlth-replay.test.ts; usable by hand).

  openlth_replay.py --hparams RUN/level_0/main/hparams.json --batches B.safetensors --init W.safetensors
                    --rewind K --out O.safetensors [--prune-from OURS.safetensors] [--levels 0|1]
                    [--teacher TRAIN_RUN_FOLDER]

B comes from `earlyphase batches ... --with-images` over the whole run; W is the file given to
`--init-weights`. Level 0 trains the dense network from W for training_steps, keeping w_K. Level 1
prunes level 0's final weights (or, with --prune-from, another file's: our level 0's, so that both
sides train level 1 with one mask) by OpenLTH's rule, rewinds to mask * w_K with a fresh optimiser,
and trains from K to the end with the learning-rate schedule continued at K.

--teacher also takes one OpenLTH step from each of our saved states (a `train` run with weights saved
at every iteration, e.g. --save-steps 1it,2it,...) and compares it with our next one. Free-running
trajectories of a batch-norm network part within tens of iterations whatever the arithmetic: a
pre-activation within float32 rounding of 0 lands on the other side of a ReLU in one implementation,
a discrete change of one gradient that the training dynamics then amplify. One step from the same
state never amplifies anything, so it bounds every step's difference tightly. The momentum buffer
at step t is what SGD's update implies: (w[t-1] - w[t]) / lr[t-1] (within a rounding of w).

What OpenLTH does, written here from its behaviour rather than its code:
  - torch.optim.SGD(lr, momentum or nesterov_momentum, weight_decay, nesterov) on every parameter;
    the learning rate at iteration it is lr * gamma ** (milestones passed) * min(1, it / warmup)
    (a LambdaLR stepped once per iteration, also through the K skipped iterations of a rewound level);
  - batches: DataLoader without drop_last over a shuffle of the training set, so an epoch has
    ceil(N / B) iterations and its last batch holds the remainder (the permutations come from B);
  - CIFAR-10 images: RandomHorizontalFlip, then RandomCrop(32, padding=4) (zero padding), then
    ToTensor and Normalize; the flip and crop offsets are the ones B records per (iteration, slot);
  - the network in training mode (batch-norm batch statistics, running statistics updated),
    CrossEntropyLoss averaged over the batch actually present;
  - sparse_global: remaining = unpruned weights of every prunable tensor (ignored ones included),
    count = ceil(fraction * remaining), threshold = sort(|w| of the unpruned, non-ignored)[count],
    keep |w| > threshold; sparse_layerwise: per tensor, count = ceil(fraction * its unpruned), keep
    |w| >= threshold. Prunable: every Conv2d and Linear weight. A pruned model multiplies its weights
    by the mask before every forward pass; here the mask is applied after every step, the same weights.
The output holds level_0/<name>, w_k/<name>, level_1/<name> (state_dict floats), mask_1/<name> (the
mask level 1 trained with) and, with --prune-from, mask_1_own/<name> (the rule on this run's own
level 0). Metadata "composition_mismatches" counts iterations whose batch B records differently from
OpenLTH's chunking of the permutation (a padded last batch, say); "teacher" holds each step's
relative L2 difference over the parameters and over the batch-norm statistics, and the largest
difference relative to a tensor's largest |value|.
"""
import argparse
import json
import math
import os
import re
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import openlth_models  # noqa: E402
import safetensors_io  # noqa: E402

BATCHES_FORMAT = 'earlyphase.batches.v1'
STEP = re.compile(r'^(?:(0|[1-9][0-9]*)ep)?(?:(0|[1-9][0-9]*)it)?$')


class ReplayError(ValueError):
    pass


def iterations(step, per_epoch, what):
    """OpenLTH's Step.from_str: '2ep', '500it', '1ep9it' -> iterations."""
    m = STEP.match(step or '')
    if not m or (m[1] is None and m[2] is None):
        raise ReplayError(f'{what}: malformed step {step!r}')
    return int(m[1] or 0) * per_epoch + int(m[2] or 0)


class Batches:
    """The exported batch composition, assembled into tensors the way OpenLTH's DataLoader does."""

    def __init__(self, path, batch_size):
        t, m = safetensors_io.load(path)
        if m.get('format') != BATCHES_FORMAT:
            raise ReplayError(f'{path}: metadata format is {m.get("format")!r}, expected {BATCHES_FORMAT} (written by `earlyphase batches`)')
        if 'images' not in t:
            raise ReplayError(f'{path}: no images tensor; export with `earlyphase batches --with-images`')
        if m['rotation'] != 'false' or m['blur_factor'] != '1':
            raise ReplayError(f'{path}: the rotation task and blurred inputs are not replayed here')
        self.B = int(m['batch_size'])
        if self.B != batch_size:
            raise ReplayError(f'{path}: batch_size {self.B}, the run has {batch_size}')
        self.images, self.labels = t['images'], t['labels'].long()
        self.count = self.images.shape[0]
        # OpenLTH's DataLoader.iterations_per_epoch.
        self.per_epoch = math.ceil(self.count / self.B)
        if self.per_epoch != int(m['iterations_per_epoch']):
            raise ReplayError(f'{path}: iterations_per_epoch {m["iterations_per_epoch"]}, but ceil({self.count} / {self.B}) = {self.per_epoch}')
        self.first, self.end, self.first_epoch = int(m['first_iteration']), int(m['end_iteration']), int(m['first_epoch'])
        self.permutations, self.examples, self.sizes = t['permutations'].long(), t['examples'].long(), t['batch_sizes'].long()
        self.dy, self.dx, self.flip = t['dy'].long(), t['dx'].long(), t['flip'].bool()
        self.augment, self.pad = m['augment'] == 'true', int(m['crop_padding'])
        c = self.images.shape[1]
        self.mean = torch.tensor(json.loads(m['normalize_mean']), dtype=torch.float32).reshape(c, 1, 1)
        self.std = torch.tensor(json.loads(m['normalize_std']), dtype=torch.float32).reshape(c, 1, 1)
        self.mismatches = []

    def batch(self, it):
        if not self.first <= it < self.end:
            raise ReplayError(f'iteration {it} is not in the exported range [{self.first}, {self.end})')
        e, i = divmod(it, self.per_epoch)
        # The DataLoader chunks the epoch's permutation by B: the last chunk is short.
        idx = self.permutations[e - self.first_epoch][i * self.B:(i + 1) * self.B]
        row, n = it - self.first, idx.numel()
        if not torch.equal(self.examples[row, :self.sizes[row]], idx):
            self.mismatches.append(it)
        x = self.images[idx]
        if self.augment:
            flip = self.flip[row, :n]
            x[flip] = x[flip].flip(-1)
            p, (h, w) = self.pad, x.shape[2:]
            padded = torch.zeros(x.shape[:2] + (h + 2 * p, w + 2 * p), dtype=torch.uint8)
            padded[:, :, p:p + h, p:p + w] = x
            x = torch.stack([padded[j, :, self.dy[row, j]:self.dy[row, j] + h, self.dx[row, j]:self.dx[row, j] + w] for j in range(n)])
        # ToTensor, then Normalize, in float32.
        return (x.float() / 255 - self.mean) / self.std, self.labels[idx]


def prunable_names(model):
    return [f'{name}.weight' for name, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def prune(strategy, fraction, ignore, weights, mask):
    """OpenLTH's sparse_global / sparse_layerwise: the next level's mask from trained weights and the current mask."""
    unknown = [n for n in ignore if n not in mask]
    if unknown:
        raise ReplayError(f'pruning_layers_to_ignore names {unknown}, not prunable tensors ({", ".join(mask)})')
    out = dict(mask)
    candidates = [n for n in mask if n not in ignore]
    if strategy == 'sparse_global':
        remaining = sum(int(m.sum()) for m in mask.values())
        count = math.ceil(fraction * remaining)
        threshold = torch.sort(torch.cat([weights[n][mask[n] == 1].abs() for n in candidates])).values[count]
        for n in candidates:
            out[n] = torch.where(weights[n].abs() > threshold, mask[n], torch.zeros_like(mask[n]))
    elif strategy == 'sparse_layerwise':
        for n in candidates:
            alive = weights[n][mask[n] == 1].abs()
            threshold = torch.sort(alive).values[math.ceil(fraction * alive.numel())]
            out[n] = torch.where(weights[n].abs() >= threshold, mask[n], torch.zeros_like(mask[n]))
    else:
        raise ReplayError(f'pruning_strategy {strategy!r} is not replayed here')
    return out


def apply_mask(model, mask):
    with torch.no_grad():
        params = dict(model.named_parameters())
        for n, m in mask.items():
            params[n].mul_(m)


def train(model, batches, t, start, end, mask, lr_at, keep_at=None):
    """Iterations [start, end) with a fresh optimiser, as OpenLTH trains every level; the state at keep_at is returned too."""
    momentum = t.get('momentum') or t.get('nesterov_momentum') or 0
    opt = torch.optim.SGD(model.parameters(), lr=t['lr'], momentum=momentum, weight_decay=t.get('weight_decay') or 0,
                          nesterov=(t.get('nesterov_momentum') or 0) > 0)
    model.train()
    kept = None
    apply_mask(model, mask)
    for it in range(start, end):
        if it == keep_at:
            kept = snapshot(model)
        for g in opt.param_groups:
            g['lr'] = lr_at(it)
        x, y = batches.batch(it)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        apply_mask(model, mask)
    if keep_at == end:
        kept = snapshot(model)
    return kept


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}


def teacher_forced(model, batches, t, run, lr_at, total):
    """One OpenLTH step from each of our saved states [0, total) of a run from 0; each step's difference from our next state."""
    def ours(it):
        f = os.path.join(run, f'model_ep{it // batches.per_epoch}_it{it % batches.per_epoch}.safetensors')
        if not os.path.exists(f):
            raise ReplayError(f'{f} is missing: train the teacher run with its weights saved at every iteration (--save-steps 1it,2it,...)')
        return {k: v for k, v in safetensors_io.load(f)[0].items() if v.is_floating_point()}
    momentum = t.get('momentum') or t.get('nesterov_momentum') or 0
    steps, prev, cur = [], None, ours(0)
    for it in range(total):
        nxt = ours(it + 1)
        model.load_state_dict(cur, strict=False)
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=lr_at(it), momentum=momentum, weight_decay=t.get('weight_decay') or 0,
                              nesterov=(t.get('nesterov_momentum') or 0) > 0)
        if momentum and prev is not None:
            for n, p in model.named_parameters():
                opt.state[p]['momentum_buffer'] = ((prev[n].double() - cur[n].double()) / lr_at(it - 1)).float()
        x, y = batches.batch(it)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        got, params = snapshot(model), set(n for n, _ in model.named_parameters())
        # Per kind (parameters, statistics): squared norms of the difference, of our state, of our step.
        sq = {True: [0.0, 0.0, 0.0], False: [0.0, 0.0, 0.0]}
        worst = 0.0
        for k, v in got.items():
            d = v.double() - nxt[k].double()
            acc = sq[k in params]
            acc[0] += float((d ** 2).sum())
            acc[1] += float((nxt[k].double() ** 2).sum())
            acc[2] += float(((nxt[k].double() - cur[k].double()) ** 2).sum())
            worst = max(worst, float(d.abs().max() / nxt[k].abs().max().clamp_min(1e-12)))
        rel = {kind: ((a / b) ** 0.5 if b else 0.0, (a / c) ** 0.5 if c else 0.0) for kind, (a, b, c) in sq.items()}
        steps.append({'iteration': it, 'batch': int(batches.sizes[it - batches.first]), 'params': rel[True][0], 'stats': rel[False][0],
                      'params_step': rel[True][1], 'stats_step': rel[False][1], 'tensor': worst})
        prev, cur = cur, nxt
    return steps


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--hparams', required=True, help="the run's hparams.json (earlyphase's format)")
    p.add_argument('--batches', required=True, help='`earlyphase batches --with-images` over the whole run')
    p.add_argument('--init', required=True, help='the starting weights (safetensors, OpenLTH names)')
    p.add_argument('--rewind', type=int, required=True, help='the rewind iteration K')
    p.add_argument('--levels', type=int, choices=(0, 1), default=1)
    p.add_argument('--prune-from', help="weights whose magnitudes prune level 1 (default: this replay's level 0)")
    p.add_argument('--teacher', help='a run folder of ours (trained from --init) with weights at every iteration: one step from each')
    p.add_argument('--out', required=True)
    a = p.parse_args(argv)
    t0 = time.time()
    with open(a.hparams) as f:
        h = json.load(f)
    d, t, pr = h['dataset'], h['training'], h['pruning']
    if t['optimizer_name'] != 'sgd':
        raise ReplayError(f'{a.hparams}: optimizer_name {t["optimizer_name"]!r}; this replay trains with SGD only')
    batches = Batches(a.batches, d['batch_size'])
    per_epoch = batches.per_epoch
    total = iterations(t['training_steps'], per_epoch, 'training_steps')
    if batches.first != 0 or batches.end < total:
        raise ReplayError(f'{a.batches}: holds iterations [{batches.first}, {batches.end}); the replay needs [0, {total})')
    if not 0 <= a.rewind <= total:
        raise ReplayError(f'--rewind {a.rewind} is outside the run (0..{total})')
    milestones = [iterations(s, per_epoch, 'milestone_steps') for s in t.get('milestone_steps') or []]
    warmup = iterations(t['warmup_steps'], per_epoch, 'warmup_steps') if t.get('warmup_steps') else 0

    def lr_at(it):
        factor = (t.get('gamma') or 1) ** sum(1 for m in milestones if it >= m)
        if warmup:
            factor *= min(1.0, it / warmup)
        return t['lr'] * factor

    init, _ = safetensors_io.load(a.init)
    model = openlth_models.build_model(h['model']['model_name'], tuple(batches.images.shape[1:]), init['fc.weight'].shape[0])
    # Strict but for num_batches_tracked, which files written before it existed lack.
    r = model.load_state_dict(init, strict=False)
    missing = [k for k in r.missing_keys if not k.endswith('.num_batches_tracked')]
    if missing or r.unexpected_keys:
        raise ReplayError(f'{a.init}: does not fit {h["model"]["model_name"]}: missing {missing}, unexpected {r.unexpected_keys}')
    names = prunable_names(model)
    params = dict(model.named_parameters())
    dense = {n: torch.ones_like(params[n]) for n in names}

    out = {}
    wk = train(model, batches, t, 0, total, dense, lr_at, keep_at=a.rewind)
    out.update({f'level_0/{k}': v for k, v in snapshot(model).items()})
    out.update({f'w_k/{k}': v for k, v in wk.items()})
    if a.levels >= 1:
        ignore = pr.get('pruning_layers_to_ignore') or []
        own = prune(pr['pruning_strategy'], pr['pruning_fraction'], ignore, {n: params[n].detach() for n in names}, dense)
        mask = own
        if a.prune_from:
            theirs, _ = safetensors_io.load(a.prune_from)
            mask = prune(pr['pruning_strategy'], pr['pruning_fraction'], ignore, {n: theirs[n] for n in names}, dense)
            out.update({f'mask_1_own/{n}': m.to(torch.uint8) for n, m in own.items()})
        out.update({f'mask_1/{n}': m.to(torch.uint8) for n, m in mask.items()})
        model.load_state_dict(wk, strict=False)  # rewind: every parameter and batch-norm statistic to w_k
        train(model, batches, t, a.rewind, total, mask, lr_at)
        out.update({f'level_1/{k}': v for k, v in snapshot(model).items()})
    meta = {}
    if a.teacher:
        meta['teacher'] = json.dumps(teacher_forced(model, batches, t, a.teacher, lr_at, total))
    mismatches = sorted(set(batches.mismatches))
    safetensors_io.save(a.out, out, {
        'format': 'openlth_replay.v1', 'torch': torch.__version__, 'iterations': str(total), 'iterations_per_epoch': str(per_epoch),
        'composition_mismatches': json.dumps({'count': len(mismatches), 'first': mismatches[:10]}), 'seconds': f'{time.time() - t0:.2f}', **meta,
    })


if __name__ == '__main__':
    try:
        main(sys.argv[1:])
    except (ReplayError, safetensors_io.SafetensorsError, OSError, KeyError) as e:
        sys.exit(f'openlth_replay.py: {e}')
