// How many bounds clamps Dawn adds to a compiled kernel. Dawn makes every index into workgroup,
// function and private memory safe with a min() unless its integer range analysis proves the
// index in range (and, on devices without robust buffer access, indices into storage arrays with
// arrayLength). In a GEMM's k loop such clamps cost an add and a min per workgroup-memory read
// (all of Dawn's robustness cost the H200's 4096³ GEMM ~15%), so kernels are written for the
// analysis (shaders/linear_large.wgsl says how) and test/kernels/bounds-clamps.test.ts keeps them
// clean.
//
// Dawn shows the SPIR-V it generates only through its `dump_shaders` toggle, printed natively on
// stdout, so the kernels are compiled in a child process whose stdout is read back: once as
// WebGPU requires (clamps in) and once with `disable_robustness` (clamps out). A kernel's clamps
// are the difference in mins against a constant limit (workgroup, function and vector indices)
// and in OpArrayLength (storage indices), so min() calls of its own do not count. Before each kernel the child compiles a tiny marker module, whose dumped WGSL tells
// the parent where that kernel's SPIR-V begins.
//
//   node --import tsx runner/tools/bounds-clamps.ts [--adapter NAME] shader.wgsl[:entry] …
// lists every (or the named) entry point with its default override values.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadShaders, requestAdapter } from '../host/dawn.ts';
import { composeShader } from '../../src/gpu/compose.ts';
import { Gpu } from '../../src/gpu/gpu.ts';

/**
 * A kernel: an entry point of the module composed for shaders/<shader> (src/gpu/compose.ts), or
 * of `code` (generated WGSL, e.g. a pack's member-fused kernel).
 */
export interface ClampSpec { shader: string; entry: string; constants?: Record<string, number>; code?: string }
/**
 * clamps: min()s Dawn put on indices into workgroup, function and private memory (and vector
 * components), the ones a kernel can avoid; lengthChecks: indices into storage arrays checked
 * against arrayLength, which Dawn adds only on devices without robust buffer access;
 * loopGuards: loops Dawn could not prove finite, so it gave each a 64-bit countdown (a decrement,
 * a carry and a test per iteration). It proves a loop finite only when a counter steps by exactly
 * 1 towards a bound fixed before the loop (a constant, a `let`, a parameter; not a uniform's
 * field, which is loaded anew each iteration).
 */
export interface ClampCount { spec: ClampSpec; clamps: number; lengthChecks: number; loopGuards: number }

const CHILD_FLAG = '--bounds-clamps-child';
const SPECS_ENV = 'EARLYPHASE_CLAMP_SPECS';
const MARKER = '// earlyphase bounds-clamps marker ';

/** Counts the clamps of each kernel on the named (or best) adapter. */
export async function countBoundsClamps(specs: ClampSpec[], adapter?: string): Promise<ClampCount[]> {
  const robust = await compileInChild(specs, ['dump_shaders'], adapter);
  const bare = await compileInChild(specs, ['dump_shaders', 'disable_robustness'], adapter);
  return specs.map((spec, i) => ({
    spec,
    clamps: robust[i]!.constMins - bare[i]!.constMins,
    lengthChecks: robust[i]!.lengths - bare[i]!.lengths,
    loopGuards: robust[i]!.guards - bare[i]!.guards,
  }));
}

/** constMins: UMin/SMin against a constant (a fixed-size array's or vector's last index). */
interface SpirvCounts { constMins: number; lengths: number; guards: number }

/**
 * Dawn prints the dumps as it makes them, and the parent attributes each to the marker before it.
 * Once in a loaded full test run (not reproduced in 15 tries under load) a kernel's dump came after
 * the next marker (one kernel with none, its neighbour with two), so a dump whose order is off is
 * compiled again, up to 3 tries; a kernel that never gets its one dump still fails, naming it.
 */
async function compileInChild(specs: ClampSpec[], toggles: string[], adapter?: string): Promise<SpirvCounts[]> {
  for (let attempt = 1; ; attempt++) {
    const out = await compileOnce(specs, toggles, adapter);
    try {
      return parseDump(out, specs);
    } catch (e) {
      if (attempt >= 3 || !(e instanceof DumpOrderError)) throw e;
      console.error(`bounds-clamps: ${(e as Error).message}; compiling again (try ${attempt + 1} of 3)`);
    }
  }
}

/** A kernel without exactly one dump after its marker. */
class DumpOrderError extends Error {}

async function compileOnce(specs: ClampSpec[], toggles: string[], adapter?: string): Promise<string> {
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), CHILD_FLAG, ...(adapter ? [adapter] : [])];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, [SPECS_ENV]: JSON.stringify(specs), EARLYPHASE_DAWN_TOGGLES: toggles.join(',') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '', err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
  child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
  const code = await new Promise<number | null>((done) => child.on('close', done));
  // Dawn's limit warnings are noise next to the error (runner/stderr-filter.mjs drops them for the CLI).
  const why = err.trim().split('\n').filter((l) => !l.startsWith('Warning: ')).slice(-3).join(' | ');
  if (code !== 0) throw new Error(`bounds-clamps: compiling with ${toggles.join(',')} failed (exit ${code}): ${why}`);
  return out;
}

/** Splits the dump at the markers and counts, per kernel, the instructions clamps compile to. */
export function parseDump(out: string, specs: ClampSpec[]): SpirvCounts[] {
  const counts: (SpirvCounts & { modules: number })[] = specs.map(() => ({ constMins: 0, lengths: 0, guards: 0, modules: 0 }));
  let at = -1;
  for (const line of out.split('\n')) {
    if (line.startsWith(MARKER)) { at = Number(line.slice(MARKER.length)); continue; }
    if (at < 0) continue;
    const c = counts[at]!;
    if (line.includes('Dumped SPIRV') || line.includes('Dumped generated SPIRV')) c.modules++;
    if (/OpExtInst %\w+ %\w+ [US]Min %\w+ %u?int_\d+\s*$/.test(line)) c.constMins++;
    if (/\bOpArrayLength\b/.test(line)) c.lengths++;
    // The guard's exit test, all(counter == vec2(0)).
    if (/\bOpAll\b/.test(line)) c.guards++;
  }
  // The marker module itself compiles to no SPIR-V (it is never used in a pipeline), so each
  // kernel must have exactly one dump: none means Dawn reused an earlier pipeline or the dump
  // format changed, and a count of 0 would then be a lie.
  const bad = counts.findIndex((c) => c.modules !== 1);
  if (bad >= 0) {
    const s = specs[bad]!;
    throw new DumpOrderError(`bounds-clamps: expected one SPIR-V dump for ${s.shader}:${s.entry} ${JSON.stringify(s.constants ?? {})}, found ${counts[bad]!.modules} (is each kernel listed once?)`);
  }
  return counts.map(({ constMins, lengths, guards }) => ({ constMins, lengths, guards }));
}

async function childMain(adapterName?: string): Promise<void> {
  const specs = JSON.parse(process.env[SPECS_ENV] ?? '[]') as ClampSpec[];
  // The device the engine runs on (its limits and features), without compiling every shader.
  const shaders = loadShaders();
  const { device } = await Gpu.open(await requestAdapter(adapterName), shaders);
  for (const [i, s] of specs.entries()) {
    device.createShaderModule({ code: `${MARKER}${i}\n@compute @workgroup_size(1) fn marker() {}\n` });
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ label: s.shader, code: s.code ?? composeShader(shaders, s.shader).code });
    device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: s.entry, constants: s.constants ?? {} } });
    const e = await device.popErrorScope();
    if (e) throw new Error(`${s.shader}:${s.entry}: ${e.message}`);
  }
  await device.queue.onSubmittedWorkDone();
}

/** Every compute entry point of a shader file. */
export function entryPoints(code: string): string[] {
  return [...code.matchAll(/@compute\s*(?:@workgroup_size\([^)]*\)\s*)?fn\s+(\w+)/g)].map((m) => m[1]!);
}

async function cliMain(argv: string[]): Promise<void> {
  let adapter: string | undefined;
  const specs: ClampSpec[] = [];
  const shaders = loadShaders();
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--adapter') { adapter = argv[++i]; continue; }
    const [shader, entry] = argv[i]!.split(':');
    if (shaders[shader!] === undefined) throw new Error(`unknown shader "${shader}"; shaders/ has ${Object.keys(shaders).join(', ')}`);
    for (const e of entry ? [entry] : entryPoints(composeShader(shaders, shader!).code)) specs.push({ shader: shader!, entry: e });
  }
  if (specs.length === 0) throw new Error('usage: node --import tsx runner/tools/bounds-clamps.ts [--adapter NAME] shader.wgsl[:entry] …');
  for (const c of await countBoundsClamps(specs, adapter)) {
    console.log(`${c.spec.shader}:${c.spec.entry}\t${c.clamps} clamps\t${c.lengthChecks} arrayLength checks\t${c.loopGuards} loop guards`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const run = process.argv[2] === CHILD_FLAG ? childMain(process.argv[3]) : cliMain(process.argv.slice(2));
  run.catch((e: unknown) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
