// The picked branch's own options as form inputs, one per field spec of its schema: enums → a
// select, numbers → a number input, booleans → a checkbox, anything else → text; the help text is
// the label's title and the default is prefilled. Values are read back as the CLI's option texts
// and parsed by the CLI's own parser (run-form.ts), so the inputs carry no browser validation.
import { expectedText, isRequired, noEffectDefault, type LooseSpec } from '../src/train/hparams/schema.ts';

/** Input names are `branch-<option>`. */
const PREFIX = 'branch-';

function input(option: string, spec: LooseSpec): HTMLInputElement | HTMLSelectElement {
  const name = PREFIX + option;
  const d = noEffectDefault(spec);
  if (spec.kind === 'enum') {
    const select = Object.assign(document.createElement('select'), { name });
    for (const v of spec.values) select.add(new Option(v, v, false, v === d));
    return select;
  }
  const el = Object.assign(document.createElement('input'), { name });
  if (spec.kind === 'boolean') {
    el.type = 'checkbox';
    el.checked = d === true;
  } else {
    if (spec.kind === 'number' || spec.kind === 'integer') Object.assign(el, { type: 'number', step: 'any' });
    el.value = d === undefined ? '' : String(d);
    el.placeholder = isRequired(spec) ? `required: ${expectedText(spec)}` : expectedText(spec);
  }
  return el;
}

/** Replaces `box`'s children with one labelled input per option (a note when there are none). */
export function renderBranchOptions(box: HTMLElement, branch: string, specs: Readonly<Record<string, LooseSpec>>): void {
  const labels = Object.entries(specs).map(([option, spec]) => {
    const el = input(option, spec);
    const flag = `${branch} --${option.replace(/_/g, '-')}`;
    const label = Object.assign(document.createElement('label'), { title: spec.help });
    if (spec.kind === 'boolean') { label.className = 'check'; label.append(el, ` ${flag}`); } else label.append(flag, el);
    return label;
  });
  box.replaceChildren(...(labels.length ? labels : [Object.assign(document.createElement('span'), { className: 'note', textContent: `${branch} has no options.` })]));
}

/** The options' texts as the CLI takes them (option → text; an unticked flag is left out). */
export function readBranchOptions(box: HTMLElement): Record<string, string> {
  const out: Record<string, string> = {};
  for (const el of Array.from(box.querySelectorAll<HTMLInputElement | HTMLSelectElement>(`[name^="${PREFIX}"]`))) {
    const option = el.name.slice(PREFIX.length);
    if (el instanceof HTMLInputElement && el.type === 'checkbox') { if (el.checked) out[option] = 'true'; } else out[option] = el.value;
  }
  return out;
}
