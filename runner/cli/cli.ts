// The earlyphase command line. Each subcommand validates its options before touching the GPU,
// prints errors the engine throws on purpose as one readable line, and releases the device so
// Node exits.
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { listAdapters, openGpu } from '../host/dawn.ts';
import { kernelSuite } from '../../src/check/suite.ts';
import { describe as describeComparison } from '../../src/check/compare.ts';
import { UserError } from '../../src/errors.ts';
import { hparamsHelp, LOTTERY_FLAGS_HELP, lotteryOutputLocation, TRAIN_FLAGS_HELP, trainOutputLocation } from './run-help.ts';
import { checkRunRoot } from '../storage/run-root.ts';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Set while parseOnlyArgv runs: no action runs, nothing is printed. */
let parseOnly = false;
const PARSED_ONLY = Symbol('parsed only');

const program = new Command();
program
  .name('earlyphase')
  .description('WebGPU lottery-ticket / early-phase-of-training experiments (Frankle, Schwab, Morcos 2020)')
  .option('--adapter <name>', 'WebGPU adapter (substring of its name, e.g. llvmpipe, swiftshader; env EARLYPHASE_ADAPTER)')
  .option('--verbose', 'also show the WebGPU driver\'s own warnings (hidden by default; see runner/earlyphase.mjs)')
  // A usage error is one line naming the flag and what it expects, exit 2 (as the engine's own
  // UserErrors), not the whole usage text. Set before any subcommand exists: they copy it.
  .configureOutput({
    writeOut: (str) => { if (!parseOnly) process.stdout.write(str); },
    writeErr: (str) => { if (!parseOnly) process.stderr.write(str); },
    outputError: (str, write) => write(`earlyphase: ${str.replace(/^error: /, '')}`),
  })
  .exitOverride((e: CommanderError) => { throw e; })
  // --root first, before the dataset, the GPU or any folder: a bad root is one line (runner/storage/run-root.ts).
  .hook('preAction', async (_program, action) => {
    if (parseOnly) { await (await import('./parse-check.ts')).checkCommand(action); throw PARSED_ONLY; }
    const o = action.opts() as { root?: string; hparamsHelp?: boolean; displayOutputLocation?: boolean };
    if (o.root !== undefined && !o.hparamsHelp && !o.displayOutputLocation) checkRunRoot(o.root); // help writes nothing
  });

function positiveInt(v: string): number {
  const n = Number(v);
  if (!/^[0-9]+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${v}"`);
  return n;
}

/** An integer in [min, max]: for counts where a huge value would run for hours without a word. */
function intIn(min: number, max: number, why: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!/^-?[0-9]+$/.test(v.trim()) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max} (${why}), got "${v}"`);
    return n;
  };
}

program.command('adapters')
  .description('list the WebGPU adapters Dawn can see, with their features and limits')
  .option('--json', 'machine-readable output')
  .action(async (opts: { json?: boolean }) => {
    const names = (await listAdapters()).map((a) => a.name);
    const rows = [];
    for (const name of names) {
      const gpu = await openGpu(name);
      const d = gpu.device;
      rows.push({
        name, ...gpu.adapter,
        features: [...d.features].sort(),
        maxStorageBufferBindingSize: d.limits.maxStorageBufferBindingSize,
        maxComputeWorkgroupStorageSize: d.limits.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: d.limits.maxComputeInvocationsPerWorkgroup,
      });
      gpu.destroy();
    }
    if (opts.json) { console.log(JSON.stringify(rows, null, 2)); return; }
    if (rows.length === 0) console.log('no adapters');
    for (const r of rows) {
      console.log(`${r.name}\n  ${r.class.toUpperCase()} adapter "${r.shortName}" — ${r.vendor} ${r.description}` +
        `\n  storage binding ${(r.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB, workgroup memory ${r.maxComputeWorkgroupStorageSize / 1024} KiB,` +
        ` ${r.maxComputeInvocationsPerWorkgroup} invocations/workgroup\n  features: ${r.features.join(', ')}`);
    }
  });

program.command('models')
  .description('list the model zoo with total and prunable parameter counts (OpenLTH names and counts)')
  .option('--json', 'machine-readable output')
  .action(async (opts: { json?: boolean }) => {
    const { MODEL_EXAMPLES, getModel } = await import('../../src/nn/zoo.ts');
    const { countParameters } = await import('../../src/nn/graph.ts');
    const rows = MODEL_EXAMPLES.map((name) => {
      const m = getModel(name);
      return { name, input: m.input.join('x'), ...countParameters(m), unprunedByDefault: m.defaultIgnored };
    });
    if (opts.json) { console.log(JSON.stringify(rows, null, 2)); return; }
    console.log(`${'model'.padEnd(22)}${'input'.padEnd(10)}${'total'.padStart(13)}${'prunable'.padStart(13)}  not pruned by default`);
    for (const r of rows) {
      console.log(`${r.name.padEnd(22)}${r.input.padEnd(10)}${r.total.toLocaleString('en-US').padStart(13)}${r.prunable.toLocaleString('en-US').padStart(13)}  ${r.unprunedByDefault.join(', ') || '-'}`);
    }
  });

program.command('check')
  .description('run the kernel correctness suite (every kernel against its float64 CPU reference) on one adapter')
  .option('--filter <text>', 'only cases whose "family: name" contains text')
  .action(async (opts: { filter?: string }) => {
    const cases = opts.filter ? kernelSuite.filter((c) => `${c.family}: ${c.name}`.includes(opts.filter!)) : kernelSuite;
    if (cases.length === 0) throw new InvalidArgumentError(`--filter "${opts.filter}" matches no kernel case`);
    const gpu = await openGpu(program.opts().adapter);
    console.log(`adapter: ${gpu.adapter.description} (${gpu.adapter.shortName})`);
    let failed = 0;
    try {
      for (const c of cases) {
        const results = await c.run(gpu);
        const bad = results.filter((r) => !r.ok);
        failed += bad.length ? 1 : 0;
        console.log(`${bad.length ? 'FAIL' : 'ok  '} ${c.family}: ${c.name}`);
        for (const r of bad) console.log(describeComparison(r).replace(/^/gm, '    '));
      }
    } finally {
      gpu.destroy();
    }
    console.log(`${cases.length - failed} passed, ${failed} failed`);
    if (failed) process.exitCode = 1;
  });

program.command('bench')
  .description('kernel throughput (GFLOP/s) against TensorFlow.js webgpu on the same adapter, measured in the same run')
  .option('--suite <names>', 'comma-separated suites: matmul, conv2d, training (whole training steps; a few minutes)', 'matmul,conv2d')
  .option('--warmup <n>', 'warm-up calls per case', positiveInt, 3)
  .option('--reps <n>', 'timed calls per case', positiveInt, 10)
  .option('--models <names>', 'training suite: only models whose name contains one of these (comma-separated), e.g. lenet')
  .option('--peer <names>', 'peers: tfjs (webgpu on the same adapter, and wasm), pytorch (needs python3 with torch: training steps in every setting the machine supports, on CUDA or else the CPU; cuBLAS for the matmul suite), or tfjs,pytorch', 'tfjs')
  .option('--pack <sizes>', 'training suite: aggregate images/s of packs of K networks (e.g. 1,2,4,8,16,32) against the peers training the same K models, instead of single steps')
  .option('--apex-fp16', 'training suite: our step in mixed precision (as train --apex-fp16); its ratios pair with PyTorch autocast fp16 (--peer pytorch; CUDA) only')
  .option('--json', 'machine-readable output')
  .action(async (opts: { suite: string; warmup: number; reps: number; models?: string; peer: string; pack?: string; apexFp16?: boolean; json?: boolean }) => {
    const { checkApexFp16, runBench, formatBenchTable, parsePeers, parseSuites } = await import('../tools/bench/index.ts');
    // Checked here too so a typo fails before the GPU and TF.js start up.
    const peers = parsePeers(opts.peer.split(',').map((s) => s.trim()).filter(Boolean));
    const suites = parseSuites(opts.suite.split(',').map((s) => s.trim()).filter(Boolean));
    const packs = opts.pack === undefined ? undefined : (await import('../tools/bench/training-pack.ts')).parsePackSizes(opts.pack);
    if (packs && !suites.includes('training')) throw new UserError('bench --pack times training steps: add --suite training');
    if (opts.apexFp16) checkApexFp16(suites, peers);
    const log = (s: string) => process.stderr.write(`${s}\n`);
    const result = await runBench({ adapter: program.opts().adapter, suites, warmup: opts.warmup, reps: opts.reps,
      models: opts.models?.split(',').map((s) => s.trim()).filter(Boolean), packs, peers, apexFp16: opts.apexFp16, log });
    if (opts.json) console.log(JSON.stringify(result, null, 2));
    else console.log(`adapter: ${result.adapter}\n${formatBenchTable(result.rows)}`);
  });

program.command('profile')
  .description('GPU time of every dispatch of one training step (or evaluation batch), by kernel and by layer, with GFLOP/s, GB/s and the step\'s submit/pipelined times')
  .option('--model <name>', 'any zoo model (earlyphase models)', 'cifar_resnet_20')
  .option('--batch <n>', 'batch size', '128')
  .option('--density <d>', 'fraction of prunable weights kept, in (0, 1] (a random mask, as the benchmark)', '1')
  .option('--mode <mode>', 'train (one SGD step), eval (one evaluation batch) or both', 'train')
  .option('--reps <n>', 'profiled steps (median per dispatch), steps submitted one by one, and steps pipelined', '5')
  .option('--method <m>', 'auto (timestamp queries where usable, else repeat), timestamps, or repeat', 'auto')
  .option('--repeat <n>', 'repeat method: copies of each dispatch per pass', '10')
  .option('--top <n>', 'slowest dispatches listed in the text output', '15')
  .option('--pack <k>', 'profile the training step of a pack of K networks (one member-fused dispatch per op for all K)', '1')
  .option('--json', 'machine-readable output (every dispatch, every number)')
  .action(async (opts: { model: string; batch: string; density: string; mode: string; reps: string; method: string; repeat: string; top: string; pack: string; json?: boolean }) => {
    const { runProfileCommand } = await import('../tools/profile/profile.ts');
    await runProfileCommand({ ...opts, adapter: program.opts().adapter });
  });

const INIT_WEIGHTS_HELP = 'start from this weights file instead of the seeded initialisation: safetensors with OpenLTH\'s names (a model_*.safetensors of ours, or a PyTorch state_dict saved with runner/tools/interop/safetensors_io.py); its SHA-256 becomes the hyperparameter --init-weights-sha256, so the file names the run';
const PACK_HELP = 'train up to K runs together in one pack (one submit per step for all; each run bitwise identical to training it alone), or auto: K from the device memory and the model; default 1';

/** Options every run command shares (train, lottery, branch, demo). */
function runOptions(cmd: Command, what: string): Command {
  return cmd
    .option('--root <dir>', 'folder holding run folders', 'runs')
    .option('--replicate <n>', `replicate number (${what})`, positiveInt, 1)
    .option('--data-dir <dir>', 'where dataset files are (env EARLYPHASE_DATA); the only place searched when given');
}

runOptions(program.command('train'), 'seeds the initialisation, data order and augmentation when their seeds are unset')
  .description('train one network (OpenLTH `train`): earlyphase train --default-hparams mnist_lenet_300_100 --dataset-name fashion_mnist [--<hparam> VALUE …]')
  .option('--evaluate-only-at-end', 'evaluate on the test set only after the last iteration')
  .option('--save-steps <steps>', 'also save the weights at these steps, e.g. 100it,500it,2ep (the start and end are always saved)')
  .option('--replicates <list>', 'train several replicates, e.g. 1-8 (instead of --replicate); one result line each')
  .option('--pack <K|auto>', PACK_HELP)
  .option('--init-weights <file>', INIT_WEIGHTS_HELP)
  .option('--telemetry', 'record early-training telemetry: gradient norm, weight magnitude, sign changes, distance/cosine to the start, weight trajectories (every iteration to 100, log-spaced to 4000, then every epoch)')
  .option('--quiet', 'print only the final summary')
  .option('--hparams-help', 'list every hyperparameter flag with its type and help (a --default-hparams preset\'s values shown), then exit')
  .option('--display-output-location', 'print the run folder and the resolved hyperparameters, then exit (OpenLTH\'s --display_output_location)')
  .addHelpText('after', `\n${TRAIN_FLAGS_HELP}`)
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async (opts: { root: string; replicate: number; replicates?: string; pack?: string; dataDir?: string; evaluateOnlyAtEnd?: boolean; saveSteps?: string; initWeights?: string; telemetry?: boolean; quiet?: boolean; hparamsHelp?: boolean; displayOutputLocation?: boolean }, cmd: Command) => {
    if (opts.hparamsHelp) { console.log(hparamsHelp(cmd.args, 'train')); return; }
    const args = (await import('../data/init-weights.ts')).argvWithInitWeights(cmd.args, opts.initWeights);
    if (opts.displayOutputLocation) { console.log(trainOutputLocation(args, opts.root, opts.replicate)); return; }
    const { runTrain } = await import('./train-command.ts');
    await runTrain({ ...opts, adapter: program.opts().adapter, argv: args });
  });

runOptions(program.command('lottery'), 'seeds initialisation, data order and augmentation')
  .description('iterative magnitude pruning with rewinding (OpenLTH `lottery`): earlyphase lottery --default-hparams NAME --levels 0-8 [--rewinding-steps 500it] [--pretrain --pretrain-<hparam> V …]')
  .option('--levels <levels>', 'levels to run and report: N (0…N, as OpenLTH), or ranges like 0-5,8 (every lower level runs too)', '3')
  .option('--replicates <list>', 'run several replicates, e.g. 1-8 (instead of --replicate): level by level in lockstep, each pruned by its own weights')
  .option('--pack <K|auto>', PACK_HELP)
  .option('--evaluate-only-at-end', 'evaluate on the test set only after the last iteration of each level')
  .option('--init-weights <file>', `level 0 (or pre-training) ${INIT_WEIGHTS_HELP}`)
  .option('--telemetry', 'record early-training telemetry in every level (see train --help)')
  .option('--quiet', 'print only summaries')
  .option('--hparams-help', 'list every hyperparameter flag (a --default-hparams preset\'s values shown) and the lottery\'s own flags, then exit')
  .option('--display-output-location', 'print the lottery folder and the resolved hyperparameters, then exit')
  .addHelpText('after', `\n${LOTTERY_FLAGS_HELP}`)
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async (opts: { levels: string; root: string; replicate: number; replicates?: string; pack?: string; dataDir?: string; evaluateOnlyAtEnd?: boolean; initWeights?: string; telemetry?: boolean; quiet?: boolean; hparamsHelp?: boolean; displayOutputLocation?: boolean }, cmd: Command) => {
    if (opts.hparamsHelp) { console.log(hparamsHelp(cmd.args, 'lottery')); return; }
    const args = (await import('../data/init-weights.ts')).argvWithInitWeights(cmd.args, opts.initWeights);
    if (opts.displayOutputLocation) { console.log(lotteryOutputLocation(args, opts.root, opts.replicate)); return; }
    const { runLotteryCommand } = await import('./lottery-command.ts');
    await runLotteryCommand({ ...opts, adapter: program.opts().adapter, argv: args });
  });

program.command('batches')
  .description('write a run\'s batch composition for iterations [--from, --to) as safetensors, for replaying it elsewhere (runner/tools/interop/openlth_replay.py): ' +
    'earlyphase batches --default-hparams NAME [--<hparam> VALUE …] [--replicate N] --out FILE. No GPU is used')
  .requiredOption('--out <file>', 'the safetensors file to write (replaced atomically)')
  .option('--replicate <n>', 'replicate number of the run (seeds the data order and augmentation when their seeds are unset), as for train', positiveInt, 1)
  .option('--from <step>', 'first iteration, e.g. 0it, 2ep', '0it')
  .option('--to <step>', 'end iteration, exclusive (default: the end of training)')
  .option('--with-images', 'also write the training set after host transformations (subsample, random labels) as u8 images N×C×H×W')
  .option('--data-dir <dir>', 'where dataset files are (env EARLYPHASE_DATA); the only place searched when given')
  .addHelpText('after', `
Tensors (safetensors, metadata format=earlyphase.batches.v1; n = iterations, B = --batch-size):
  permutations  I32 [epochs, examples]  each epoch's shuffle of the training set, from epoch first_epoch on
  examples      I32 [n, B]              the examples of each iteration's batch in slot order; -1 past a short last batch
  batch_sizes   I32 [n]                 examples in each batch (the last of an epoch holds the remainder unless --pad-last-batch)
  dy, dx, flip  U8  [n, B]              each slot's crop offsets into the image zero-padded by crop_padding, and horizontal flip
                                        (flip first, then pad and crop); without augmentation dy = dx = crop_padding, flip 0
  rotation      U8  [n, B]              quarter turns counter-clockwise (the rotation task only; the label is the rotation)
  source_index  I32 [examples]          each example's index in the dataset's training split (after --subsample-fraction)
  labels        U8  [examples]          labels after host transformations (--random-labels-fraction)
  images        U8  [examples, C, H, W] with --with-images
Metadata: hparams (JSON), hparams_hash, replicate, dataset_name, examples, batch_size, iterations_per_epoch, first_iteration,
end_iteration, first_epoch, pad_last_batch, augment, crop_padding, rotation, blur_factor, normalize_mean, normalize_std (JSON),
data_order_seed, transformation_seed. Every lottery level trains on the same batches: level L ≥ 1 on iterations [k, T).

Hyperparameters: the flags \`earlyphase train\` takes (earlyphase train --hparams-help [--default-hparams NAME]), e.g.
earlyphase batches --default-hparams cifar_resnet_20 --to 2ep --out batches.safetensors`)
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async (opts: { out: string; replicate: number; from: string; to?: string; withImages?: boolean; dataDir?: string }, cmd: Command) => {
    const { runBatches } = await import('./batches-command.ts');
    await runBatches({ ...opts, argv: cmd.args });
  });

runOptions(program.command('demo'), 'seeds everything; run 1 and 2 to see the spread')
  .description('the main job: a small real lottery-ticket experiment on Fashion-MNIST (LeNet-300-100; rewind to 0 and to k; random reinit), with a table')
  .option('--levels <levels>', 'IMP levels', '0-11')
  .option('--reinit-levels <levels>', 'levels of the random-reinitialisation baseline: a list like 2,5,8,11 (a lone N is level N only)', '2,5,8,11')
  .option('--rewind <step>', 'the rewind point k of the second lottery', '30it')
  .option('--training-steps <step>', 'training length of every level', '6ep')
  .option('--subsample <fraction>', 'fraction of the 60,000 training images used (1 = all)', '0.1')
  .option('--quiet', 'print only the table')
  .action(async (opts: { levels: string; reinitLevels: string; rewind: string; trainingSteps: string; subsample: string; root: string; replicate: number; dataDir?: string; quiet?: boolean }) => {
    const { runDemo } = await import('./demo-command.ts');
    await runDemo({ ...opts, adapter: program.opts().adapter });
  });

runOptions(program.command('instability'), 'of the lottery')
  .description('linear mode connectivity: two copies from a level\'s rewind point with different data orders, test error along the line between them, and the error barrier')
  .option('--levels <levels>', 'lottery levels to analyse (their trunk must exist): N (0…N) or a list like 0,3,6', '0-0')
  .option('--points <n>', 'evaluation points on the line, endpoints included (2-1001; each is one test-set evaluation)', intIn(2, 1001, 'points on the line, endpoints included'), 11)
  .option('--same-order', 'train both copies with the same data order (a sanity check: barrier 0)')
  .option('--pack <K|auto>', 'with 2 (or auto): the two copies train together as one pack, each bitwise identical to training it alone; default 1')
  .option('--quiet', 'print only the table')
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async (opts: { levels: string; points: number; sameOrder?: boolean; pack?: string; root: string; replicate: number; dataDir?: string; quiet?: boolean }, cmd: Command) => {
    const { runInstabilityCommand } = await import('./instability-command.ts');
    await runInstabilityCommand({ ...opts, adapter: program.opts().adapter, argv: cmd.args });
  });

program.command('report <folder>')
  .description('the paper\'s figures from run folders (a runs root, a lottery/train folder, or any path inside one the CLI printed): a self-contained HTML page, a PNG per chart (rendered by headless Chromium), and a text summary')
  .option('--out <dir>', 'where to write report.html, the PNGs and summary.txt (default: report/ in the runs root or lottery/train folder reported)')
  .action(async (folder: string, opts: { out?: string }) => {
    const { runReport } = await import('./report-command.ts');
    const r = await runReport({ folder, out: opts.out });
    console.error(`report: ${r.html}; ${r.pngs.length} figures as PNG next to it`);
  });

function portNumber(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`expected a port 0-65535 (0: any free port), got "${v}"`);
  return n;
}

program.command('view')
  .description('serve the browser viewer (run experiments in a tab, browse results) with the runs root and dataset files, on 127.0.0.1')
  .option('--root <dir>', 'folder holding run folders (created when missing)', 'runs')
  .option('--data-dir <dir>', 'where dataset files are (env EARLYPHASE_DATA); the only place searched when given')
  .option('--host <host>', 'address to listen on; anything but loopback exposes the runs to the network', '127.0.0.1')
  .option('--port <n>', 'port (0: any free port)', portNumber, 8808)
  .option('--read-only', 'refuse saves from the pages')
  .action(async (opts: { root: string; dataDir?: string; host: string; port: number; readOnly?: boolean }) => {
    const { runView } = await import('./view-command.ts');
    await runView(opts);
  });

const data = program.command('data').description('dataset files: `earlyphase data fetch NAME` downloads them');
data.command('fetch <name>')
  .description('download a dataset\'s official files (mnist, fashion_mnist, cifar10) into the data folder the other commands search, resuming a partial download and checking published MD5s')
  .option('--data-dir <dir>', 'data root to fill (env EARLYPHASE_DATA; default ~/open_lth_datasets, searched by default)')
  .option('--mirror <url>', 'base URL to download from instead of the official mirrors (a local copy or a proxy)')
  .action(async (name: string, opts: { dataDir?: string; mirror?: string }) => {
    const { fetchDataset } = await import('../data/data-fetch.ts');
    const r = await fetchDataset(name, opts);
    console.log(JSON.stringify({ dataset: name, dir: r.dir, files: r.files, downloaded: r.downloaded }));
  });

program.command('sweep <spec>')
  .description('run a sweep: a preset named after the paper\'s figures (rewinding, telemetry, perturbations, pretraining) or a JSON spec file; runs what is missing')
  .option('--setup <name>', 'for presets: lenet (Fashion-MNIST, fits a CPU) or resnet20 (the paper\'s CIFAR-10 setup, for a GPU)', 'lenet')
  .option('--root <dir>', 'folder holding run folders', 'runs')
  .option('--data-dir <dir>', 'where dataset files are (env EARLYPHASE_DATA); the only place searched when given')
  .option('--dry-run', 'list each job with its folders and whether it is done, then exit (everything is still validated; data that is not here is skipped with a note)')
  .option('--replicates <list>', 'run only these replicates of the sweep, e.g. 1 or 1-3')
  .option('--levels <levels>', 'shrink the sweep to these lottery levels (N = 0…N); branch and instability levels past them are dropped')
  .option('--training-steps <step>', 'train every run for this long instead (e.g. 2ep), for a quick version of a preset')
  .option('--pack <K|auto>', PACK_HELP)
  .option('--quiet', 'print only summaries')
  .option('--queue <url>', 'enqueue the jobs on a Redis job queue (redis://HOST:PORT[/DB]) for `earlyphase worker`s instead of running them here')
  .option('--follow', 'with --queue: print progress until every job has finished')
  .action(async (spec: string, opts: { setup: string; root: string; dataDir?: string; dryRun?: boolean; quiet?: boolean; queue?: string; follow?: boolean; replicates?: string; levels?: string; trainingSteps?: string; pack?: string }) => {
    const { runSweep } = await import('./sweep-command.ts');
    await runSweep({ ...opts, spec, adapter: program.opts().adapter });
  });

program.command('worker')
  .description('take sweep jobs from a Redis job queue and run them (one worker per GPU; any number of machines sharing --root)')
  .requiredOption('--queue <url>', 'the queue: redis://HOST:PORT[/DB] (env EARLYPHASE_QUEUE)', process.env.EARLYPHASE_QUEUE)
  .option('--root <dir>', 'folder holding run folders (the same shared folder on every machine)', 'runs')
  .option('--data-dir <dir>', 'where dataset files are (env EARLYPHASE_DATA)')
  .option('--name <name>', 'this worker\'s name in queue status (default host:pid)')
  .option('--stalled-seconds <n>', 'a job whose worker has not renewed its lock for this long is retried elsewhere', positiveInt, 30)
  .option('--exit-when-idle', 'exit once nothing is waiting or running in the queue (batch jobs, SLURM arrays)')
  .option('--pack <K|auto>', 'take up to K jobs at a time and train them together, K runs per pack (each run bitwise identical to training it alone), or auto: K from the device memory and the model of each batch\'s first job; default 1')
  .option('--quiet', 'print only job lines')
  .action(async (opts: { queue: string; root: string; dataDir?: string; name?: string; stalledSeconds: number; exitWhenIdle?: boolean; quiet?: boolean; pack?: string }) => {
    const { runWorker } = await import('./worker-command.ts');
    await runWorker({ ...opts, adapter: program.opts().adapter });
  });

const queueCmd = program.command('queue').description('the Redis job queue of distributed sweeps: status, retry, clean');
const queueUrl = (c: Command) => c.requiredOption('--queue <url>', 'the queue: redis://HOST:PORT[/DB] (env EARLYPHASE_QUEUE)', process.env.EARLYPHASE_QUEUE);
queueUrl(queueCmd.command('status [sweep]'))
  .description('jobs done / running (worker, iteration, time) / waiting / failed (with their error), progress and ETA, per sweep')
  .option('--json', 'machine-readable output')
  .action(async (sweep: string | undefined, opts: { queue: string; json?: boolean }) => {
    const { statusCommand } = await import('./queue-command.ts');
    await statusCommand({ ...opts, sweep });
  });
queueUrl(queueCmd.command('retry [sweep]'))
  .description('put failed jobs back in the queue with fresh attempts')
  .action(async (sweep: string | undefined, opts: { queue: string }) => {
    const { retryCommand } = await import('./queue-command.ts');
    await retryCommand({ ...opts, sweep });
  });
queueUrl(queueCmd.command('clean [sweep]'))
  .description('remove finished (completed and failed) jobs from the queue; --all also waiting ones. Run folders are untouched')
  .option('--all', 'also remove jobs that have not run yet')
  .action(async (sweep: string | undefined, opts: { queue: string; all?: boolean }) => {
    const { cleanCommand } = await import('./queue-command.ts');
    await cleanCommand({ ...opts, sweep });
  });

// `branch --help` lists the branches and their options; their registry (which pulls in the trainer)
// is loaded only when that help is asked for, so other commands start as fast as before.
const branchHelp = process.argv.some((a) => a === '--help' || a === '-h') && process.argv.some((a) => a === 'branch' || a === 'lottery_branch')
  ? (await import('../../src/lottery/branch.ts')).describeBranches() : '';

for (const alias of ['branch', 'lottery_branch']) {
  runOptions(program.command(alias, { hidden: alias !== 'branch' }), 'of the lottery to branch from')
    .argument('<name>', 'a branch, or several separated by commas (NAME,NAME,…), trained together; each takes the --<option> V flags it knows; `list` shows the branches')
    .description('a branch of an existing lottery at the rewind point (OpenLTH `lottery_branch`): perturbations, random pruning, reinitialisation, retraining; `earlyphase branch list` shows them; NAME,NAME,… trains several branches together')
    .option('--levels <levels>', 'levels to branch from: N (level N only, as OpenLTH\'s lottery_branch) or a list of levels and ranges like 2,5,8 or 0-3', '0-3')
    .option('--seed <n>', 'seed of the branch\'s random draws, of every named branch when several (default: derived from --replicate and each branch\'s name)', (v: string) => positiveInt(v))
    .option('--evaluate-only-at-end', 'evaluate on the test set only after the last iteration')
    .option('--pack <K|auto>', PACK_HELP)
    .option('--quiet', 'print only summaries')
    .addHelpText('after', () => `\nBranches and their options (NAME --option VALUE; retrain takes --retrain-<hparam> VALUE; with NAME,NAME,… each branch takes the options it knows, and an option none of them knows is an error):\n${branchHelp}\n\n${LOTTERY_FLAGS_HELP}`)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (name: string, opts: { levels: string; seed?: number; root: string; replicate: number; dataDir?: string; evaluateOnlyAtEnd?: boolean; pack?: string; quiet?: boolean }, cmd: Command) => {
      const { describeBranches } = await import('../../src/lottery/branch.ts');
      if (name === 'list') { console.log(describeBranches()); return; }
      const { runBranchCommand } = await import('./branch-command.ts');
      await runBranchCommand({ ...opts, name, adapter: program.opts().adapter, argv: cmd.args.slice(1) });
    });
}

/** Errors the engine raises on purpose are printed as their message; anything else keeps its stack. */
function report(e: unknown): never {
  // Commander has printed its own line already (configureOutput above); --help and --version exit 0.
  if (e instanceof CommanderError && !(e instanceof InvalidArgumentError)) process.exit(e.exitCode === 0 ? 0 : 2);
  const known = e instanceof UserError || e instanceof InvalidArgumentError;
  console.error(`earlyphase: ${known ? (e as Error).message : (e as Error)?.stack ?? String(e)}`);
  process.exit(known ? 2 : 1);
}

/**
 * Parses a command line (without `earlyphase`) as the CLI would and runs only the checks its
 * command makes before any work (parse-check.ts): no action runs, nothing is printed, no file,
 * network or GPU is touched (--root is not looked at). Throws the error the CLI would report;
 * --help parses. For test/unit/docs.test.ts, which checks the commands shown in the docs.
 */
export async function parseOnlyArgv(argv: readonly string[]): Promise<void> {
  parseOnly = true;
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e === PARSED_ONLY || (e instanceof CommanderError && e.exitCode === 0)) return;
    throw e;
  } finally {
    parseOnly = false;
  }
}

/** Started as the CLI (runner/earlyphase.mjs, or `tsx runner/cli/cli.ts`), not imported for parseOnlyArgv. */
function startedAsCli(): boolean {
  try {
    const entry = realpathSync(process.argv[1] ?? '');
    return [import.meta.url, new URL('../earlyphase.mjs', import.meta.url).href].some((u) => fileURLToPath(u) === entry);
  } catch {
    return false;
  }
}

if (startedAsCli()) {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    report(e);
  }
}
