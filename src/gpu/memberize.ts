// Turns a kernel into its member-fused variant: one dispatch runs the same entry point for K pack
// members, member m taking the workgroups z ∈ [m·Z, (m+1)·Z) of a grid K times deeper than one
// member's. Every member runs exactly its own invocations of the original code: the wrapper
// entry point hands the original body the workgroup id, grid size and global id that member would
// see alone, and every binding that differs between members is read at member m's slice:
//   - a storage binding with stride S bytes: `x[i]` becomes `x[member·S/elem + u32(i)]`;
//   - a uniform whose contents differ between members: each member's struct sits in a 256-byte
//     slot of one read-only storage array, copied into a private variable of the original name.
// Only addresses change, never an arithmetic expression, so each member's values are those of
// its own unfused dispatch (test/kernels/train-pack.test.ts checks it bit for bit).
//
// The module is read with a WGSL parser (wgsl-module.ts): which bindings the entry point uses
// (through every function it reaches; a local of a binding's name is not the binding), their
// numbers, types and element sizes, the entry's builtins and workgroup size, and the exact source
// positions of the declarations, the entry's header and every indexing of a binding. The rewrite edits those places only; the rest of the
// text, comments included, stays as written.
//
// Limits (the fuser falls back to one dispatch per member when memberize throws): module-scope
// bindings are read by index only (no arrayLength, no pointers to a whole binding), and a
// per-member uniform must not steer control flow around a barrier (it is no longer a uniform
// value; every kernel with barriers has shape-only uniforms, which members share unchanged).
import { type FunctionDecl, parseWgsl, reachable, type WgslModule } from './wgsl-module.ts';

/** How a member reaches its copy of a binding. */
export interface MemberLayout {
  /** Storage bindings whose members sit `bytes` apart (bindings absent here are shared, stride 0). */
  storageStrides: ReadonlyMap<number, number>;
  /** Uniform bindings whose contents differ between members, with the byte stride of their slots. */
  uniformSlots: ReadonlyMap<number, number>;
  /**
   * Storage bindings read through another one (`base`, read-write where any of them writes),
   * `bytes` past its start: WebGPU forbids a dispatch to bind overlapping ranges of one buffer
   * when one of them is written, and K members' copies of two tensors of one arena overlap.
   */
  aliases?: ReadonlyMap<number, { base: number; bytes: number }>;
}

export const MEMBER_VAR = 'member__';

const BUILTIN_ARG: Record<string, string> = {
  workgroup_id: 'wid', num_workgroups: 'nwg', global_invocation_id: 'gid',
  local_invocation_id: 'm_lid', local_invocation_index: 'm_lidx',
  subgroup_invocation_id: 'm_sgid', subgroup_size: 'm_sgsize',
};
const BUILTIN_TYPE: Record<string, string> = { local_invocation_index: 'u32', subgroup_invocation_id: 'u32', subgroup_size: 'u32' };

/** Text `text` in place of source range [start, end). */
interface Edit { start: number; end: number; text: string }

/** code[from, to) with the (non-overlapping) edits inside it applied. */
function applyEdits(code: string, edits: readonly Edit[], from = 0, to = code.length): string {
  let out = '', at = from;
  for (const e of [...edits].sort((a, b) => a.start - b.start)) {
    out += code.slice(at, e.start) + e.text;
    at = e.end;
  }
  return out + code.slice(at, to);
}

/**
 * The edits that turn every `name[i]` in `fns` into `target[offset + u32(i)]` for the bindings
 * named, nested indices too; a local of the same name, or a field, is left alone.
 */
function indexEdits(m: WgslModule, fns: readonly FunctionDecl[], names: ReadonlyMap<string, { target: string; offset: string }>): Edit[] {
  const { code, tokens } = m;
  const refs = new Set(fns.flatMap((f) => f.refs.filter((r) => names.has(r.name)).map((r) => r.token)));
  /** Index of the `]` closing the `[` at token i. */
  const closing = (i: number): number => {
    for (let depth = 0, j = i; j < tokens.length; j++) {
      if (tokens[j]!.lexeme === '[') depth++;
      else if (tokens[j]!.lexeme === ']' && --depth === 0) return j;
    }
    throw new Error(`memberize: unbalanced [ at ${tokens[i]!.start}`);
  };
  /** The outermost rewrites among tokens [from, to), each with the rewrites nested in its index applied. */
  const scan = (from: number, to: number): Edit[] => {
    const edits: Edit[] = [];
    for (let i = from; i < to; i++) {
      const n = names.get(tokens[i]!.lexeme);
      if (!n || !refs.has(i) || tokens[i + 1]?.lexeme !== '[') continue;
      const close = closing(i + 1);
      const text = applyEdits(code, scan(i + 2, close), tokens[i + 2]!.start, tokens[close]!.start);
      edits.push({ start: tokens[i]!.start, end: tokens[close]!.end, text: `${n.target}[${n.offset} + u32(${text})]` });
      i = close;
    }
    return edits;
  };
  return fns.flatMap((f) => {
    const first = tokens.findIndex((t) => t.start >= f.bodyStart);
    const last = tokens.findIndex((t) => t.start >= f.end);
    return scan(first, last < 0 ? tokens.length : last);
  });
}

export function memberize(source: string, entry: string, members: number, layout: MemberLayout): string {
  if (!Number.isInteger(members) || members < 1) throw new Error(`memberize: ${members} members`);
  let m: WgslModule;
  try {
    m = parseWgsl(source);
  } catch (e) {
    throw new Error(`memberize: the WGSL parser refused the module: ${(e as Error).message}`);
  }
  const fn = m.functions.get(entry);
  if (!fn || fn.workgroupSize === null) throw new Error(`memberize: no entry point ${entry}`);
  const fns = reachable(m, entry);
  const used = new Set(fns.flatMap((f) => f.refs.map((r) => r.name)));

  // Declarations: storage names to offset, uniforms to turn into per-member slots. Several entry
  // points of a file may declare different variables at one binding; only those this entry point
  // uses are rewritten (the others stay as they are, unused here).
  const other = m.bindings.find((d) => d.group !== 0);
  if (other) throw new Error(`memberize: ${other.name} is in bind group ${other.group}; packs bind group 0 only`);
  for (const b of [...layout.storageStrides.keys(), ...(layout.aliases?.keys() ?? [])]) {
    if (!m.bindings.some((d) => d.binding === b)) throw new Error(`memberize: no variable declared at binding ${b}`);
  }
  const decls = m.bindings.filter((d) => used.has(d.name));
  for (const d of decls) {
    if (decls.some((e) => e.binding === d.binding && e !== d)) throw new Error(`memberize: ${entry} uses several variables at binding ${d.binding}`);
  }
  const aliases = layout.aliases ?? new Map<number, { base: number; bytes: number }>();
  const bases = new Set([...aliases.values()].map((a) => a.base));
  const names = new Map<string, { target: string; offset: string }>();
  const edits: Edit[] = [];
  const inits: string[] = [];
  const slotted = new Set<number>();
  for (const d of decls) {
    if (d.space === 'uniform') {
      const slot = layout.uniformSlots.get(d.binding);
      if (slot === undefined) continue;
      slotted.add(d.binding);
      inits.push(`${d.name} = ${d.name}__members[${MEMBER_VAR}].v;`);
      edits.push({
        start: d.start, end: d.end,
        text: `struct ${d.name}__slot { @size(${slot}) v: ${d.type} }\n`
          + `@group(0) @binding(${d.binding}) var<storage, read> ${d.name}__members: array<${d.name}__slot>;\n`
          + `var<private> ${d.name}: ${d.type};`,
      });
      continue;
    }
    const stride = layout.storageStrides.get(d.binding) ?? 0;
    const alias = aliases.get(d.binding);
    if (stride === 0 && !alias) continue;
    const bytes = d.elementBytes;
    if (bytes === null) throw new Error(`memberize: binding ${d.binding} (${d.name}: ${d.type}) is not an array`);
    if (stride % bytes !== 0) throw new Error(`memberize: stride ${stride} of ${d.name} is not a multiple of its ${bytes}-byte elements`);
    let target = d.name, offset = `${MEMBER_VAR} * ${stride / bytes}u`;
    if (alias) {
      const base = decls.filter((e) => e.binding === alias.base && e.space === 'storage');
      if (base.length !== 1 || base[0]!.type !== d.type) throw new Error(`memberize: ${d.name} cannot be read through binding ${alias.base} (${base.map((e) => `${e.name}: ${e.type}`).join(', ') || 'none'})`);
      if (alias.bytes % bytes !== 0) throw new Error(`memberize: ${d.name} sits ${alias.bytes} bytes into binding ${alias.base}, not a whole number of elements`);
      target = base[0]!.name;
      offset += ` + ${alias.bytes / bytes}u`;
    }
    names.set(d.name, { target, offset });
    if (bases.has(d.binding) && d.access !== 'read_write') edits.push({ ...d.spaceAt, text: 'storage, read_write' });
  }
  for (const b of layout.uniformSlots.keys()) {
    if (!slotted.has(b)) throw new Error(`memberize: no uniform declared at binding ${b}`);
  }
  const lengths = fns.find((f) => f.calls.has('arrayLength'));
  if (lengths) throw new Error(`memberize: ${lengths.name} takes arrayLength of a binding, which would span every member`);

  // The entry point becomes a plain function of the builtins it took.
  const params = fn.params.map((p) => {
    if (p.builtin === null || !(p.builtin in BUILTIN_ARG)) throw new Error(`memberize: ${entry} parameter ${p.name} is not a supported builtin`);
    return { ...p, builtin: p.builtin };
  });
  const body = `${entry}__member_body`;
  edits.push({ start: fn.start, end: fn.bodyStart, text: `fn ${body}(${params.map((p) => `${p.name}: ${p.type}`).join(', ')}) ` });
  edits.push(...indexEdits(m, fns, names));
  const code = applyEdits(source, edits);

  const size = fn.workgroupSize!.split(',').map((s) => s.trim());
  const [x, y = '1u', z = '1u'] = size.map((s) => `u32(${s})`);
  const extra = params.filter((p) => p.builtin.startsWith('subgroup'));
  const wrapperParams = [
    '@builtin(workgroup_id) m_wid: vec3u', '@builtin(num_workgroups) m_nwg: vec3u',
    '@builtin(local_invocation_id) m_lid: vec3u', '@builtin(local_invocation_index) m_lidx: u32',
    ...extra.map((p) => `@builtin(${p.builtin}) ${BUILTIN_ARG[p.builtin]}: ${BUILTIN_TYPE[p.builtin] ?? p.type}`),
  ];
  return `${code}

// Member-fused entry point (src/gpu/memberize.ts): member m owns workgroups z in [m*per, (m+1)*per).
var<private> ${MEMBER_VAR}: u32;

@compute @workgroup_size(${size.join(', ')})
fn ${entry}(${wrapperParams.join(', ')}) {
  let per = m_nwg.z / ${members}u;
  let m = m_wid.z / per;
  ${MEMBER_VAR} = m;
  ${inits.join('\n  ')}
  let wid = vec3u(m_wid.x, m_wid.y, m_wid.z - m * per);
  let nwg = vec3u(m_nwg.x, m_nwg.y, per);
  let gid = wid * vec3u(${x}, ${y}, ${z}) + m_lid;
  ${body}(${params.map((p) => BUILTIN_ARG[p.builtin]).join(', ')});
}
`;
}
