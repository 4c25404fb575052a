// How a WGSL module is made from the files in shaders/: one mechanism for every shader.
//
// A file names the parts it shares with others in whole-line comments, `// #include "name.wgsl"`.
// The module compiled for it is: a prelude (the `enable`/`requires`/`diagnostic` directives of
// every file, which WGSL wants before any declaration, and one `alias NAME = TYPE;` per type
// parameter the host asks for), then each included file once, dependencies first, then the file
// itself. Files are concatenated whole and in that defined order: WGSL's module-scope
// declarations may be used before they are declared, so an include needs no position, and a file
// two others include appears once. A segment table maps every line of the module back to its
// file and line, so a compile error Dawn reports at line:col of the module reads
// `shaders/<file>.wgsl:<line>:<col>` (Gpu.compileAll).
//
// Why not the design card's wgsl-preprocessor (a JS tagged template with #if/#elif), and why
// aliases: the variants the kernels have so far are specialisation constants (WGSL `override`s,
// set per pipeline), and the next ones are precision variants — f16 storage, or f32 computing on
// f16 pairs packed in u32 where `shader-f16` is missing — which change types, not control flow.
// A type is a WGSL `alias` the prelude declares (`alias act_t = f16;`, with `enable f16;` added),
// so the shader text stays plain WGSL with no text macro; a variant that needs different code
// (packing and unpacking) can be a different part file with the same function names, chosen
// when the module is composed (no shader takes a type parameter yet). #if blocks would instead
// cut text in and out of template strings, so errors would point at generated lines and the
// shaders would stop being .wgsl files that tools and tests read.
// Files that another file includes are parts: they are not compiled on their own.

/**
 * Shader file name (e.g. "linear.wgsl") → its text, as in shaders/. Loaded by the host (fs or
 * bundler); the modules the Gpu compiles are composed from them here.
 */
export type ShaderSources = Readonly<Record<string, string>>;

/** Lines [start, start + lines) of the composed module (1-based) are lines 1.. of shaders/<file>. */
export interface Segment { file: string; start: number; lines: number }

export interface ComposedShader {
  /** The file the module was composed for. */
  file: string;
  code: string;
  segments: readonly Segment[];
  /** The directives hoisted into the prelude, e.g. `enable subgroups;`. */
  directives: readonly string[];
}

export interface ComposeOptions {
  /** Type parameters: name → WGSL type, declared as `alias name = type;` in the prelude. */
  aliases?: Readonly<Record<string, string>>;
}

const INCLUDE = /^\/\/ #include "([\w.-]+\.wgsl)"\s*$/;
const DIRECTIVE = /^\s*(?:enable|requires)\s[^;]*;\s*$|^\s*diagnostic\s*\([^)]*\)\s*;\s*$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The files `file` includes, in the order its lines name them; a malformed include line throws. */
export function includesOf(sources: ShaderSources, file: string): string[] {
  const code = sources[file];
  if (code === undefined) throw new Error(`shader ${file} not found (known: ${Object.keys(sources).join(', ')})`);
  const out: string[] = [];
  code.split('\n').forEach((line, i) => {
    if (!line.trimStart().startsWith('// #include')) return;
    const m = INCLUDE.exec(line.trim());
    if (!m) throw new Error(`shaders/${file}:${i + 1}: malformed include (expected: // #include "name.wgsl"): ${line.trim()}`);
    if (sources[m[1]!] === undefined) throw new Error(`shaders/${file}:${i + 1}: includes "${m[1]}", which shaders/ does not have`);
    out.push(m[1]!);
  });
  return out;
}

/** The files some other file includes: parts, compiled only inside the modules that include them. */
export function shaderParts(sources: ShaderSources): Set<string> {
  return new Set(Object.keys(sources).flatMap((f) => includesOf(sources, f)));
}

/** The files that are modules of their own (every file no other file includes), sorted. */
export function shaderModules(sources: ShaderSources): string[] {
  const parts = shaderParts(sources);
  return Object.keys(sources).filter((f) => !parts.has(f)).sort();
}

/** `file` and its includes, each once, every file after the files it includes. */
function includeOrder(sources: ShaderSources, file: string): string[] {
  const order: string[] = [];
  const visit = (f: string, chain: string[]): void => {
    if (chain.includes(f)) throw new Error(`shaders/${f}: includes itself through ${[...chain, f].join(' → ')}`);
    if (order.includes(f)) return;
    for (const inc of includesOf(sources, f)) visit(inc, [...chain, f]);
    order.push(f);
  };
  visit(file, []);
  return order;
}

export function composeShader(sources: ShaderSources, file: string, options: ComposeOptions = {}): ComposedShader {
  const files = includeOrder(sources, file);
  const directives: string[] = [];
  const bodies = files.map((f) => sources[f]!.replace(/\n$/, '').split('\n').map((line) => {
    if (!DIRECTIVE.test(line)) return line;
    const d = line.trim();
    if (!directives.includes(d)) directives.push(d);
    return `// ${d} (moved to the prelude)`;
  }));
  const aliases = Object.entries(options.aliases ?? {});
  for (const [name, type] of aliases) {
    if (!IDENT.test(name) || !/^[\w<>, ]+$/.test(type)) throw new Error(`compose ${file}: alias ${name} = ${type} is not a WGSL name and type`);
  }
  if (aliases.some(([, type]) => /\bf16\b/.test(type)) && !directives.includes('enable f16;')) directives.unshift('enable f16;');
  const lines = [`// shaders/${file} as compiled (src/gpu/compose.ts): prelude, included files, the file`, ...directives,
    ...aliases.map(([name, type]) => `alias ${name} = ${type};`)];
  const segments: Segment[] = [];
  files.forEach((f, i) => {
    lines.push(`// ---- shaders/${f} ----`);
    segments.push({ file: f, start: lines.length + 1, lines: bodies[i]!.length });
    lines.push(...bodies[i]!);
  });
  return { file, code: lines.join('\n') + '\n', segments, directives };
}

/** The file and line of line `line` (1-based) of a composed module; null on a prelude or marker line. */
export function sourceLine(c: ComposedShader, line: number): { file: string; line: number } | null {
  const s = c.segments.find((g) => line >= g.start && line < g.start + g.lines);
  return s ? { file: s.file, line: line - s.start + 1 } : null;
}
