// The public face of the hyperparameter system; the parts live in ./hparams/ (one job per file):
//   schema.ts      field-spec language: types, ranges, defaults, parsing and checking one value
//   groups.ts      the four OpenLTH groups (dataset, model, training, pruning) and Hparams
//   model-names.ts which model names are valid, by family
//   build.ts       loose values → checked canonical Hparams, cross-field rules
//   cli.ts         flags / argv → Hparams (kebab-case, OpenLTH underscores accepted, presets)
//   docs.ts        --help text and docs/hyperparameters.md's tables from the schema
//   json.ts        the hparams file in run folders
// Presets live in ../presets.ts, run hashes in ../hash.ts, step strings in ../steps.ts.

export type {
  Hparams, GroupName, DatasetHparams, ModelHparams, TrainingHparams, PruningHparams, DatasetName,
} from './hparams/groups.ts';
export {
  GROUPS, GROUP_NAMES, DATASET_NAMES, MODEL_INITS, BATCHNORM_INITS, OPTIMIZER_NAMES, PRUNING_STRATEGIES,
} from './hparams/groups.ts';
export type { GroupDef, GroupSchema, AnySpec } from './hparams/schema.ts';
export { MODEL_FAMILIES, modelFamilyOf, type ModelFamily, type ModelFamilyId } from './hparams/model-names.ts';
export { validateHparams } from './hparams/build.ts';
export {
  parseHparams, parseHparamArgv, isHparamFlag, normalizeKey, flagOf, PRESET_KEY, type HparamPairs,
} from './hparams/cli.ts';
export { describeHparams, formatHparamsHelp, hparamsMarkdown, type HparamDoc } from './hparams/docs.ts';
export { hparamsToJSON, hparamsFromJSON, HPARAMS_FORMAT, HPARAMS_VERSION, type HparamsJSON } from './hparams/json.ts';
export { PRESETS, presetHparams, presetFor, presetList, type Preset } from './presets.ts';
export { hparamsHash, hparamsHashInput, nonDefaultHparams } from './hash.ts';
