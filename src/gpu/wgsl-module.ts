// What the member-fusing rewrite (memberize.ts) needs to know about a WGSL module, read with a
// WGSL parser (wgsl_reflect) rather than patterns over the text: the resource bindings (name,
// number, address space, access, array element size, where the declaration stands), the
// functions (where they stand, where the body opens, the names they use, call and declare, an
// entry point's builtins and workgroup size), and the tokens with their source positions, so a
// rewrite can edit exact places and leave everything else as written, comments included.
import { type Node, type Token, WgslParser, WgslReflect, WgslScanner } from 'wgsl_reflect/wgsl_reflect.module.js';

export interface BindingDecl {
  name: string;
  group: number;
  binding: number;
  space: 'storage' | 'uniform';
  /** 'read' or 'read_write' for storage, '' for uniforms. */
  access: string;
  /** Bytes between array elements, or null where the binding is not an array. */
  elementBytes: number | null;
  /** The declared type as written, white space removed (e.g. `array<vec4f>`). */
  type: string;
  /** The declaration's source range, `@group` to `;`, and that of `space[, access]` in its `var<…>`. */
  start: number; end: number;
  spaceAt: { start: number; end: number };
}

export interface FunctionDecl {
  name: string;
  /** Source range from its first attribute to its closing brace; the body opens at bodyStart. */
  start: number; end: number; bodyStart: number;
  /** For a compute entry point: its workgroup size as written, and its parameters' builtins. */
  workgroupSize: string | null;
  params: { name: string; builtin: string | null; type: string }[];
  /** The functions it calls, and its references to module-scope names (token indices), locals resolved away. */
  calls: Set<string>;
  refs: { name: string; token: number }[];
}

export interface WgslModule {
  code: string;
  tokens: readonly Token[];
  bindings: readonly BindingDecl[];
  functions: ReadonlyMap<string, FunctionDecl>;
}

/** A parsed module per text: the fuser asks for the same few modules once per op of a step. */
const parsed = new Map<string, WgslModule>();

/** Parses `code`; throws with the parser's message where it cannot. */
export function parseWgsl(code: string): WgslModule {
  let m = parsed.get(code);
  if (!m) {
    m = parse(code);
    parsed.set(code, m);
  }
  return m;
}

interface AstAttribute { name: string; value: string | string[] | null }
interface AstType { name: string; format?: AstType | null }
type AstNode = Node & {
  name?: string; attributes?: AstAttribute[] | null; type?: AstType | null;
  args?: { name: string; type: AstType; attributes: AstAttribute[] | null }[];
};

function parse(code: string): WgslModule {
  const tokens = new WgslScanner(code).scanTokens();
  const ast = new WgslParser().parse(code) as AstNode[];
  const reflect = new WgslReflect(code);
  const resources = new Map<string, { v: (typeof reflect.storage)[number]; uniform: boolean }>();
  for (const v of reflect.storage) resources.set(v.name, { v, uniform: false });
  for (const v of reflect.uniforms) resources.set(v.name, { v, uniform: true });
  const bindings: BindingDecl[] = [];
  const functions = new Map<string, FunctionDecl>();
  for (const node of ast) {
    const attrs = node.attributes ?? [];
    if (node.astNodeType === 'var' && attrs.some((a) => a.name === 'binding')) {
      const r = resources.get(node.name!);
      if (!r) throw new Error(`${node.name} at binding ${attribute(attrs, 'binding')} is neither a storage nor a uniform buffer`);
      const { v, uniform } = r;
      // `… var<space[, access]> name: type;`: the template holds no other `>`, the type follows `name :`.
      const ts = tokens.filter((t) => t.start >= node.start && t.end <= node.end);
      const open = ts.findIndex((t) => t.lexeme === 'var') + 1, close = ts.findIndex((t) => t.lexeme === '>');
      const semicolon = ts.at(-1)!;
      bindings.push({
        name: v.name, group: v.group, binding: v.binding, space: uniform ? 'uniform' : 'storage', access: v.access,
        elementBytes: v.type.isArray ? v.stride : null,
        type: code.slice(ts[close + 3]!.start, semicolon.start).replace(/\s+/g, ''),
        start: node.start, end: node.end,
        spaceAt: { start: ts[open + 1]!.start, end: ts[close - 1]!.end },
      });
    } else if (node.astNodeType === 'function') {
      functions.set(node.name!, functionDecl(node, tokens));
    }
  }
  return { code, tokens, bindings, functions };
}

function attribute(attrs: AstAttribute[], name: string): string | null {
  const v = attrs.find((a) => a.name === name)?.value;
  return v === undefined || v === null ? null : Array.isArray(v) ? v.join(', ') : v;
}

function typeText(t: AstType): string {
  return t.format ? `${t.name}<${typeText(t.format)}>` : t.name;
}

function functionDecl(node: AstNode, tokens: readonly Token[]): FunctionDecl {
  const calls = new Set<string>();
  node.search((n: Node) => {
    const x = n as AstNode;
    if (x.astNodeType === 'callExpr' || x.astNodeType === 'call') calls.add(x.name!);
  });
  const args = node.args ?? [];
  const attrs = node.attributes ?? [];
  const body = tokens.findIndex((t) => t.start >= node.start && t.lexeme === '{');
  if (body < 0) throw new Error(`function ${node.name} has no body`);
  const end = tokens.findIndex((t) => t.start >= node.end);
  return {
    name: node.name!, start: node.start, end: node.end, bodyStart: tokens[body]!.start,
    workgroupSize: attrs.some((a) => a.name === 'compute') ? attribute(attrs, 'workgroup_size') : null,
    params: args.map((a) => ({ name: a.name, builtin: attribute(a.attributes ?? [], 'builtin'), type: typeText(a.type) })),
    calls, refs: moduleRefs(tokens, body, end < 0 ? tokens.length : end, args.map((a) => a.name)),
  };
}

/**
 * The identifiers among tokens [from, to) of a function body that no local declares (module-scope
 * names, and built-in functions and types), by WGSL's block scoping: a parameter is visible in the
 * whole body, a let/var/const from the end of its declaration to the end of its block (one in a
 * `for` header to the end of the loop), and a name after `.` is a field or swizzle. Done on the
 * tokens because the parser's tree has no source positions below the declarations.
 */
function moduleRefs(tokens: readonly Token[], from: number, to: number, params: string[]): { name: string; token: number }[] {
  const scopes: Set<string>[] = [new Set(params)];
  const forEnds: number[] = []; // scope depths at which a `for` header's scope closes with its body
  let pending: { name: string; scope: Set<string> } | null = null; // visible after its `;`
  const refs: { name: string; token: number }[] = [];
  for (let i = from; i < to; i++) {
    const t = tokens[i]!.lexeme;
    if (t === '{') scopes.push(new Set());
    else if (t === '}') {
      scopes.pop();
      while (forEnds.at(-1) === scopes.length) { forEnds.pop(); scopes.pop(); }
    } else if (t === 'for') {
      scopes.push(new Set());
      forEnds.push(scopes.length);
    } else if (t === ';' && pending) {
      pending.scope.add(pending.name);
      pending = null;
    } else if (t === 'let' || t === 'var' || t === 'const') {
      if (tokens[i + 1]?.lexeme === '<') while (tokens[i]!.lexeme !== '>') i++;
      pending = { name: tokens[++i]!.lexeme, scope: scopes.at(-1)! };
    } else if (tokens[i]!.type.name === 'ident' && tokens[i - 1]?.lexeme !== '.' && !scopes.some((s) => s.has(t))) {
      refs.push({ name: t, token: i });
    }
  }
  return refs;
}

/** `entry` and every function it calls, directly or not: what the entry point statically uses. */
export function reachable(m: WgslModule, entry: string): FunctionDecl[] {
  const seen = new Map<string, FunctionDecl>(), todo = [entry];
  while (todo.length) {
    const f = m.functions.get(todo.pop()!);
    if (!f || seen.has(f.name)) continue;
    seen.set(f.name, f);
    todo.push(...f.calls);
  }
  return [...seen.values()];
}
