"""Loads an earlyphase run into OpenLTH's PyTorch model: `load_run(folder_or_file)`.

A run folder (e.g. runs/train_<hash>/replicate_1/main, or a lottery level's main/) holds
hparams.json (the model and dataset names) and model_ep<E>_it<I>.safetensors weights files under
OpenLTH's names, with batch norm's running statistics and num_batches_tracked, so they load with
load_state_dict(strict=True). The model expects images normalised as the run's dataset was.
"""
import json
import os
import re

import openlth_models
import safetensors_io

WEIGHTS = re.compile(r'^model_ep(\d+)_it(\d+)\.safetensors$')


def latest_weights(folder):
    """The folder's weights file with the highest (epoch, iteration): a finished run's final weights."""
    found = [(int(m[1]), int(m[2]), f) for f in os.listdir(folder) if (m := WEIGHTS.match(f))]
    if not found:
        raise FileNotFoundError(f'{folder}: no model_ep<E>_it<I>.safetensors here; give a run folder the CLI printed (…/main)')
    return os.path.join(folder, max(found)[2])


def load_run(path):
    """(model in eval mode, weights file path): OpenLTH's network for the run with those weights, loaded strictly."""
    weights = latest_weights(path) if os.path.isdir(path) else path
    hparams_file = os.path.join(os.path.dirname(weights), 'hparams.json')
    with open(hparams_file) as f:
        hparams = json.load(f)
    name, dataset = hparams['model']['model_name'], hparams['dataset']['dataset_name']
    tensors, _ = safetensors_io.load(weights)
    # The output layer's size comes from the file: a rotation pre-training run has 4 classes.
    model = openlth_models.build_model(name, openlth_models.DATASET_INPUT[dataset], tensors['fc.weight'].shape[0])
    model.load_state_dict(tensors, strict=True)
    return model.eval(), weights
