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
// Limits (the fuser falls back to one dispatch per member when memberize throws): module-scope
// bindings are read by index only (no arrayLength, no pointers to a whole binding), and a
// per-member uniform must not steer control flow around a barrier (it is no longer a uniform
// value; every kernel with barriers has shape-only uniforms, which members share unchanged).

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

const ELEM_BYTES: Record<string, number> = {
  f32: 4, u32: 4, i32: 4, 'atomic<u32>': 4, 'atomic<i32>': 4,
  vec2f: 8, 'vec2<f32>': 8, vec2u: 8, 'vec2<u32>': 8,
  vec4f: 16, 'vec4<f32>': 16, vec4u: 16, 'vec4<u32>': 16,
};

const DECL = /@group\(0\)\s*@binding\((\d+)\)\s*var<(storage|uniform)(?:\s*,\s*(read|read_write))?>\s*(\w+)\s*:\s*([^;]+);/g;

export const MEMBER_VAR = 'member__';

/** Comments hold brackets and binding names too; the transformed module does without them. */
function stripComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
}

/** Index of the bracket closing the one opened at `open`. */
function closing(code: string, open: number, left: string, right: string): number {
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    if (code[i] === left) depth++;
    else if (code[i] === right && --depth === 0) return i;
  }
  throw new Error(`unbalanced ${left}${right} at ${open}`);
}

/** Rewrites `name[i]` to `target[offset + u32(i)]` for the given names, nested indices too. */
function offsetIndices(code: string, names: ReadonlyMap<string, { target: string; offset: string }>): string {
  if (!names.size) return code;
  const re = new RegExp(`(?<![\\w.])(${[...names.keys()].join('|')})\\s*\\[`, 'g');
  let out = '';
  let at = 0;
  for (;;) {
    re.lastIndex = at;
    const m = re.exec(code);
    if (!m) break;
    const open = m.index + m[0].length - 1;
    const close = closing(code, open, '[', ']');
    const inner = offsetIndices(code.slice(open + 1, close), names);
    const n = names.get(m[1]!)!;
    out += code.slice(at, m.index) + `${n.target}[${n.offset} + u32(${inner})]`;
    at = close + 1;
  }
  return out + code.slice(at);
}

/** The text of `entry` and every function it calls, directly or not: what the entry point statically uses. */
function reachable(code: string, entry: string): string {
  const fns = new Map<string, string>();
  for (const m of code.matchAll(/\bfn\s+(\w+)\s*\(/g)) {
    const open = code.indexOf('{', m.index);
    fns.set(m[1]!, code.slice(m.index, closing(code, open, '{', '}') + 1));
  }
  const seen = new Set<string>(), todo = [entry];
  let text = '';
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f) || !fns.has(f)) continue;
    seen.add(f);
    const body = fns.get(f)!;
    text += body + '\n';
    for (const c of body.matchAll(/\b(\w+)\s*\(/g)) if (fns.has(c[1]!)) todo.push(c[1]!);
  }
  return text;
}

const BUILTIN_ARG: Record<string, string> = {
  workgroup_id: 'wid', num_workgroups: 'nwg', global_invocation_id: 'gid',
  local_invocation_id: 'm_lid', local_invocation_index: 'm_lidx',
  subgroup_invocation_id: 'm_sgid', subgroup_size: 'm_sgsize',
};
const BUILTIN_TYPE: Record<string, string> = { local_invocation_index: 'u32', subgroup_invocation_id: 'u32', subgroup_size: 'u32' };

export function memberize(source: string, entry: string, members: number, layout: MemberLayout): string {
  if (!Number.isInteger(members) || members < 1) throw new Error(`memberize: ${members} members`);
  let code = stripComments(source);

  // Declarations: storage names to offset, uniforms to turn into per-member slots.
  // Several entry points of a file may declare different variables at one binding; only those this
  // entry point uses are rewritten (the others' functions stay as they are, unused here).
  const used = reachable(code, entry);
  const all = [...code.matchAll(DECL)];
  // A declaration the pattern missed would leave its binding un-offset: every member would read member 0.
  if (all.length !== (code.match(/@binding\s*\(/g) ?? []).length) throw new Error('memberize: a binding declaration is not of the form @group(0) @binding(N) var<…> name: type;');
  for (const b of [...layout.storageStrides.keys(), ...(layout.aliases?.keys() ?? [])]) {
    if (!all.some((m) => Number(m[1]) === b)) throw new Error(`memberize: no variable declared at binding ${b}`);
  }
  const decls = all.map((m) => ({ binding: Number(m[1]), space: m[2]!, name: m[4]!, type: m[5]!.trim().replace(/\s+/g, '') }))
    .filter((d) => new RegExp(`(?<![\\w.])${d.name}\\s*${d.space === 'uniform' ? '\\.' : '\\['}`).test(used));
  for (const d of decls) {
    if (decls.some((e) => e.binding === d.binding && e !== d)) throw new Error(`memberize: ${entry} seems to use several variables at binding ${d.binding}`);
  }
  const aliases = layout.aliases ?? new Map<number, { base: number; bytes: number }>();
  const bases = new Set([...aliases.values()].map((a) => a.base));
  const names = new Map<string, { target: string; offset: string }>();
  const inits: string[] = [];
  const slotted = new Set<number>();
  code = code.replace(DECL, (decl, bindingText: string, space: string, access: string | undefined, name: string, type: string) => {
    const binding = Number(bindingText);
    if (!decls.some((d) => d.name === name)) return decl;
    if (space === 'uniform') {
      const slot = layout.uniformSlots.get(binding);
      if (slot === undefined) return decl;
      slotted.add(binding);
      inits.push(`${name} = ${name}__members[${MEMBER_VAR}].v;`);
      return `struct ${name}__slot { @size(${slot}) v: ${type.trim()} }\n`
        + `@group(0) @binding(${binding}) var<storage, read> ${name}__members: array<${name}__slot>;\n`
        + `var<private> ${name}: ${type.trim()};`;
    }
    const stride = layout.storageStrides.get(binding) ?? 0;
    const alias = aliases.get(binding);
    if (stride === 0 && !alias) return decl;
    const flat = type.trim().replace(/\s+/g, '');
    const elem = /^array<(.+)>$/.exec(flat)?.[1];
    const bytes = elem === undefined ? undefined : ELEM_BYTES[elem];
    if (bytes === undefined) throw new Error(`memberize: binding ${binding} (${name}: ${type}) is not an array of a known element type`);
    if (stride % bytes !== 0) throw new Error(`memberize: stride ${stride} of ${name} is not a multiple of its ${bytes}-byte elements`);
    let target = name, offset = `${MEMBER_VAR} * ${stride / bytes}u`;
    if (alias) {
      const base = decls.filter((d) => d.binding === alias.base && d.space === 'storage');
      if (base.length !== 1 || base[0]!.type !== flat) throw new Error(`memberize: ${name} cannot be read through binding ${alias.base} (${base.map((d) => `${d.name}: ${d.type}`).join(', ') || 'none'})`);
      if (alias.bytes % bytes !== 0) throw new Error(`memberize: ${name} sits ${alias.bytes} bytes into binding ${alias.base}, not a whole number of elements`);
      target = base[0]!.name;
      offset += ` + ${alias.bytes / bytes}u`;
    }
    names.set(name, { target, offset });
    return bases.has(binding) && access !== 'read_write' ? decl.replace(/var<storage\s*,\s*read>/, 'var<storage, read_write>') : decl;
  });
  for (const b of layout.uniformSlots.keys()) {
    if (!slotted.has(b)) throw new Error(`memberize: no uniform declared at binding ${b}`);
  }
  if (/\barrayLength\s*\(/.test(code)) throw new Error('memberize: arrayLength of a binding would span every member');

  // The entry point becomes a plain function of the builtins it took.
  const fnAt = new RegExp(`\\bfn\\s+${entry}\\s*\\(`).exec(code);
  if (!fnAt) throw new Error(`memberize: no entry point ${entry}`);
  const attrs = /@compute\s*@workgroup_size\(([^)]*)\)\s*$/.exec(code.slice(0, fnAt.index));
  if (!attrs) throw new Error(`memberize: ${entry} has no @compute @workgroup_size(…) right before it`);
  const paramsOpen = fnAt.index + fnAt[0].length - 1;
  const paramsClose = closing(code, paramsOpen, '(', ')');
  const params = code.slice(paramsOpen + 1, paramsClose).split(',').map((s) => s.trim()).filter(Boolean).map((p) => {
    const m = /^@builtin\((\w+)\)\s*(\w+)\s*:\s*(.+)$/.exec(p);
    if (!m || !(m[1]! in BUILTIN_ARG)) throw new Error(`memberize: ${entry} parameter "${p}" is not a supported builtin`);
    return { builtin: m[1]!, name: m[2]!, type: m[3]! };
  });
  const body = `${entry}__member_body`;
  code = code.slice(0, attrs.index) + `fn ${body}(${params.map((p) => `${p.name}: ${p.type}`).join(', ')})` + code.slice(paramsClose + 1);
  code = offsetIndices(code, names);

  const size = attrs[1]!.split(',').map((s) => s.trim()).filter(Boolean);
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
