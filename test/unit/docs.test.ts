// Docs that cannot drift. README.md and docs/*.md are read, and:
//
// 1. Every `earlyphase …` command they show parses against the real CLI (parseOnlyArgv in
//    runner/cli/cli.ts: commander plus the checks each command makes before any work; nothing
//    trains, no GPU, file or network is touched). A command is a line of a fenced block tagged
//    sh, bash, shell or console, or an inline code span, whose words (after `$ `, `VAR=value`
//    assignments, `exec` and `npx`, and after `&&` or `;`) start with `earlyphase`. A `\` at the
//    end of a line continues it; `# …` ends it; ` | ` starts another program.
//    Synopsis notation is expanded, not skipped: `[x]` is checked with x present; a word `a|b|c`
//    is checked with each alternative in turn; `…` and `...` are dropped; a meta-flag such as
//    `--<hparam> V` or `--pretrain-<hparam> V` is dropped with its value. Placeholders — ALL-CAPS
//    words (NAME, FILE, URL, N, HOST:PORT) — are replaced by an example value from EXAMPLES below,
//    looked up by the flag or word before them, then by the command, then alone; a placeholder
//    with no example fails the test (add one), so no command escapes the check.
//    An inline span without any option (`earlyphase branch list`, `earlyphase train`) names a
//    command rather than running it: it is checked with `--help` added (the command must exist).
//    Failures name the file and line. CHANGELOG.md is history: its commands are not checked.
// 2. Every relative link `[x](path#anchor)` in README.md, CHANGELOG.md and docs/*.md resolves
//    to an existing file, and an anchor to a heading of that file (GitHub's slugs).
// 3. Every command `earlyphase --help` lists has a row in README's commands table.
// 4. docs/hyperparameters.md equals what the schema generates today (npm run docs:hparams).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseOnlyArgv } from '../../runner/cli/cli.ts';
import { hparamsReference, HPARAMS_DOC, REGENERATE } from '../../runner/tools/hparams-reference.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Example values for placeholders: `<previous word> PLACEHOLDER`, `<command> PLACEHOLDER`, then `PLACEHOLDER`. */
const EXAMPLES: Record<string, string> = {
  '--default-hparams NAME': 'mnist_lenet_300_100',
  '--model NAME': 'cifar_resnet_20',
  '--adapter NAME': 'llvmpipe',
  '--name N': 'worker-1',
  '--setup NAME': 'lenet',
  '--levels N': '3',
  '--levels L': '2',
  '--density D': '0.2',
  '--repeat R': '10',
  '--filter TEXT': 'conv2d',
  '--models M': 'lenet',
  '--from STEP': '0it',
  '--to STEP': '2ep',
  '--init-weights-sha256 HEX': '0'.repeat(64),
  'branch NAME': 'randomly_reinitialize',
  'fetch NAME': 'fashion_mnist',
  'sweep NAME': 'rewinding',
  'sweep FILE.json': 'runner/sweep/sweep-example.json',
  'queue SWEEP': 'rewinding',
  'report FOLDER': 'runs',
  N: '2',
  K: '4',
  FILE: 'weights.safetensors',
  DIR: 'runs',
  D: 'data',
  URL: 'redis://127.0.0.1:6379',
  HOST: '127.0.0.1',
  PORT: '6379',
  DB: '0',
};

const PLACEHOLDER_IN = /\b[A-Z][A-Z0-9_]*\b/g;

export interface DocCommand { file: string; line: number; text: string; inline: boolean }

/** The markdown files the docs are made of. */
function docFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => join(ROOT, 'docs', f));
  return [join(ROOT, 'README.md'), join(ROOT, 'CHANGELOG.md'), ...docs];
}

/** The text with fenced blocks blanked (line numbers kept), and the fenced blocks' lines with their language. */
function splitFences(md: string): { prose: string; fenced: { lang: string; line: number; text: string }[] } {
  const lines = md.split('\n');
  const fenced: { lang: string; line: number; text: string }[] = [];
  let lang: string | null = null;
  const prose = lines.map((l, i) => {
    const fence = /^\s*(```|~~~)\s*([\w-]*)/.exec(l);
    if (fence) { lang = lang === null ? fence[2]!.toLowerCase() : null; return ''; }
    if (lang !== null) { fenced.push({ lang, line: i + 1, text: l }); return ''; }
    return l;
  });
  return { prose: prose.join('\n'), fenced };
}

/** Inline code spans of prose (a span may wrap onto the next line), with their lines. */
function inlineSpans(prose: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  for (const m of prose.matchAll(/(`+)([^`][\s\S]*?)\1(?!`)/g)) {
    if (m[2]!.includes('\n\n')) continue;
    out.push({ line: prose.slice(0, m.index).split('\n').length, text: m[2]!.replace(/\s*\n\s*/g, ' ').replace(/\\\|/g, '|').trim() });
  }
  return out;
}

/** The `earlyphase …` commands in one shell line or code span (the words after `earlyphase`). */
function commandsIn(text: string): string[] {
  const out: string[] = [];
  const code = text.replace(/(^|\s)#.*$/, '');
  for (const part of code.split(/\s(?:&&|\|\||;|\|)\s/)) {
    const words = part.trim().replace(/^\$\s+/, '').split(/\s+/).filter(Boolean);
    while (words.length && (/^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!) || words[0] === 'exec' || words[0] === 'npx')) words.shift();
    if (words[0] === 'earlyphase') out.push(part.trim().replace(/^.*?\bearlyphase\b\s*/, ''));
  }
  return out;
}

/** Every command shown in one markdown text. */
export function docCommands(file: string, md: string): DocCommand[] {
  const { prose, fenced } = splitFences(md);
  const out: DocCommand[] = [];
  let pending: { line: number; text: string } | null = null;
  for (const f of fenced) {
    if (!['sh', 'bash', 'shell', 'console'].includes(f.lang)) continue;
    const text: string = pending ? `${pending.text} ${f.text.trim()}` : f.text;
    const line: number = pending?.line ?? f.line;
    if (/\\\s*$/.test(f.text)) { pending = { line, text: text.replace(/\\\s*$/, '') }; continue; }
    pending = null;
    for (const c of commandsIn(text)) out.push({ file, line, text: c, inline: false });
  }
  for (const s of inlineSpans(prose)) for (const c of commandsIn(s.text)) out.push({ file, line: s.line, text: c, inline: true });
  return out;
}

/** Shell words: quotes removed, `$VAR`, `${VAR}` and `$(…)` taken as plain text. */
function shellWords(s: string): string[] {
  const words: string[] = [];
  for (const m of s.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) words.push((m[1] ?? m[2] ?? m[3])!);
  return words.map((w) => w.replace(/\$\([^)]*\)|\$\{[^}]*\}|\$[A-Za-z_]\w*/g, 'x'));
}

/** The argv variants a command with synopsis notation stands for; throws on a placeholder with no example. */
export function expandCommand(text: string): string[][] {
  const words = shellWords(text).map((w) => w.replace(/[[\]]/g, '').replace(/…|\.\.\./g, '')).filter((w) => w !== '');
  const kept: string[] = [];
  for (let i = 0; i < words.length; i++) {
    if (/^--[\w-]*<[^>]*>/.test(words[i]!)) { if (words[i + 1] && !words[i + 1]!.startsWith('-')) i++; continue; } // --<hparam> V
    kept.push(words[i]!);
  }
  const example = (word: string, prev: string | undefined): string => {
    for (const key of [`${prev} ${word}`, `${kept[0]} ${word}`, word]) if (EXAMPLES[key] !== undefined) return EXAMPLES[key]!;
    return word.replace(PLACEHOLDER_IN, (w) => {
      if (EXAMPLES[w] === undefined) throw new Error(`placeholder ${w} (in "${word}" after "${prev}") has no example value; add one to EXAMPLES in test/unit/docs.test.ts`);
      return EXAMPLES[w]!;
    });
  };
  // One variant per alternative of each `a|b` word (the other words at their first alternative).
  const alts = kept.map((w) => (w.includes('|') ? w.split('|').filter(Boolean) : [w]));
  const variants: string[][] = [alts.map((a) => a[0]!)];
  alts.forEach((a, i) => a.slice(1).forEach((alt) => variants.push(alts.map((b, j) => (j === i ? alt : b[0]!)))));
  return variants.map((v) => v.map((w, i) => (/[A-Z]/.test(w) && !w.startsWith('-') ? example(w, v[i - 1]) : w)));
}

/** Checks one command; returns the problem, or null. */
export async function checkCommand(c: DocCommand): Promise<string | null> {
  let variants: string[][];
  try { variants = expandCommand(c.text); } catch (e) { return `${(e as Error).message}`; }
  for (const argv of variants) {
    const named = c.inline && !argv.some((w) => w.startsWith('-'));
    try {
      await parseOnlyArgv(named ? [...argv, '--help'] : argv);
    } catch (e) {
      return `earlyphase ${argv.join(' ')}: ${String((e as Error)?.message ?? e).split('\n')[0]}`;
    }
  }
  return null;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens; repeats get -1, -2. */
export function headingSlugs(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of splitFences(md).prose.split('\n')) {
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const base = h[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Relative links of one markdown file that do not resolve: `line: target (why)`. */
export function brokenLinks(file: string, md: string, read: (p: string) => string | null): string[] {
  const prose = splitFences(md).prose.replace(/`[^`\n]*`/g, (s) => ' '.repeat(s.length));
  const out: string[] = [];
  for (const m of prose.matchAll(/\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
    const line = prose.slice(0, m.index).split('\n').length;
    const [path, anchor] = target.split('#') as [string, string | undefined];
    const abs = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
    if (path !== '' && !existsSync(abs)) { out.push(`${line}: ${target} (no file ${relative(ROOT, abs)})`); continue; }
    if (anchor === undefined) continue;
    const text = path === '' ? md : abs.endsWith('.md') ? read(abs) : null;
    if (text === null || !headingSlugs(text).has(anchor)) out.push(`${line}: ${target} (no heading #${anchor} in ${relative(ROOT, abs)})`);
  }
  return out;
}

const read = (p: string) => readFileSync(p, 'utf8');

test('every earlyphase command in README.md and docs/ parses against the real CLI', async () => {
  const problems: string[] = [];
  let count = 0;
  for (const file of docFiles().filter((f) => !f.endsWith('CHANGELOG.md'))) {
    for (const c of docCommands(file, read(file))) {
      count++;
      const p = await checkCommand(c);
      if (p) problems.push(`${relative(ROOT, c.file)}:${c.line}: \`earlyphase ${c.text}\`: ${p}`);
    }
  }
  assert.deepEqual(problems, [], `commands in the docs that the CLI refuses:\n${problems.join('\n')}`);
  assert.ok(count > 50, `only ${count} commands found: is the extraction broken?`);
});

test('a misspelled flag, a bad value, an unknown command or a placeholder without an example fails the check', async () => {
  const md = [
    'Run `earlyphase lottery --default-hparams mnist_lenet_300_100 --rewinding-step 500it`.',
    '```sh',
    'npx earlyphase branch gaussian_noise --alpha 1 --default-hparams NAME \\',
    '  --levels 2,5 --sed 3',
    'earlyphase sweep rewinding --levels two',
    'bash runner/setup.sh && npx earlyphase dmeo',
    'earlyphase profile --mode train|evil',
    'earlyphase worker --queue URL --stalled-seconds 0',
    '```',
    'and `earlyphase data fetch WIDGET` and `earlyphase view --port 80808`, but `earlyphase lottery` and',
    '`earlyphase queue status|retry|clean [SWEEP] --queue URL` are fine.',
  ].join('\n');
  const cmds = docCommands('fixture.md', md);
  assert.deepEqual(cmds.map((c) => c.line), [3, 5, 6, 7, 8, 1, 10, 10, 10, 11]);
  const results = await Promise.all(cmds.map(async (c) => [c.line, await checkCommand(c)] as const));
  const failed = results.filter(([, p]) => p !== null);
  assert.deepEqual(failed.map(([l]) => l), [3, 5, 6, 7, 8, 1, 10, 10]);
  assert.match(failed.find(([l]) => l === 1)![1]!, /--rewinding-step/);
  assert.match(failed.find(([l]) => l === 3)![1]!, /--sed/);
  assert.match(failed.find(([l]) => l === 7)![1]!, /--mode must be train, eval or both, got "evil"/);
  assert.match(results.find(([, p]) => p?.includes('WIDGET'))![1]!, /placeholder WIDGET .* has no example value/);
  // Each alternative is checked: only `queue status` takes --json.
  assert.match((await checkCommand({ file: 'f', line: 1, text: 'queue status|retry|clean --queue URL --json', inline: true }))!, /queue retry .*unknown option '--json'/);
});

test('synopsis notation expands to the commands it stands for', () => {
  assert.deepEqual(expandCommand('profile [--model NAME] [--mode train|eval|both] [--json]'), [
    ['profile', '--model', 'cifar_resnet_20', '--mode', 'train', '--json'],
    ['profile', '--model', 'cifar_resnet_20', '--mode', 'eval', '--json'],
    ['profile', '--model', 'cifar_resnet_20', '--mode', 'both', '--json'],
  ]);
  assert.deepEqual(expandCommand('train --default-hparams NAME [--<hparam> V …] --queue redis://HOST:PORT[/DB]'),
    [['train', '--default-hparams', 'mnist_lenet_300_100', '--queue', 'redis://127.0.0.1:6379/0']]);
  assert.deepEqual(expandCommand('worker --name "slurm-${SLURM_ARRAY_JOB_ID}" --name $(hostname)-gpu0'), [['worker', '--name', 'slurm-x', '--name', 'x-gpu0']]);
});

test('every relative link and anchor in README.md, CHANGELOG.md and docs/ resolves', () => {
  const problems = docFiles().flatMap((f) => brokenLinks(f, read(f), read).map((p) => `${relative(ROOT, f)}:${p}`));
  assert.deepEqual(problems, [], `broken links:\n${problems.join('\n')}`);
});

test('a link to a missing file or heading fails the check', () => {
  const file = join(ROOT, 'docs', 'fixture.md');
  const md = '# Top\n## Many networks per step: `--pack`\n[ok](#many-networks-per-step---pack) [ok](../README.md) [ok](https://x.org/y#z)\n' +
    '[bad](usage.md#no-such-heading) [bad](nope.md) [bad](#top-1)\n```\n[not a link](nope.md)\n```\n';
  assert.deepEqual(brokenLinks(file, md, read).map((p) => p.replace(/ \(.*/, '')), ['4: usage.md#no-such-heading', '4: nope.md', '4: #top-1']);
  assert.deepEqual([...headingSlugs('# A b\n# A b\n## `earlyphase data fetch`\n### On a GPU (NVIDIA H200)\n')],
    ['a-b', 'a-b-1', 'earlyphase-data-fetch', 'on-a-gpu-nvidia-h200']);
});

test('every command of the CLI has a row in README\'s commands table', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'runner/cli/cli.ts'), '--help'], { encoding: 'utf8', cwd: ROOT });
  const commands = [...r.stdout.split(/^Commands:$/m)[1]!.matchAll(/^ {2}(\w+)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
  assert.ok(commands.length > 10, r.stdout + r.stderr);
  const readme = read(join(ROOT, 'README.md'));
  const rows = readme.split('\n').filter((l) => /^\| \[?`earlyphase /.test(l));
  const missing = commands.filter((c) => !rows.some((l) => new RegExp(`\`earlyphase ${c}\\b`).test(l) && /\]\([^)]+\)/.test(l)));
  assert.deepEqual(missing, [], 'commands without a linked row in README.md\'s commands table');
});

test('docs/hyperparameters.md is what the schema generates today', () => {
  const onDisk = existsSync(HPARAMS_DOC) ? read(HPARAMS_DOC) : '';
  assert.ok(onDisk === hparamsReference(), `docs/hyperparameters.md differs from the schema; regenerate it: ${REGENERATE}`);
});
