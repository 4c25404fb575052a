// Legend labels that say what differs between runs: "lr 0.05, batch_size 64" from the runs'
// hparams.json, instead of a folder hash or a JSON dump. Only the hyperparameters whose values
// differ among the runs being compared are named; runs that agree on everything get null (the
// caller falls back to the folder name).

type Json = Record<string, any> | null;

/** "training.lr" → 0.05 for every leaf of an hparams.json (groups one level deep, as OpenLTH's). */
function leaves(h: Json): Map<string, string> {
  const out = new Map<string, string>();
  for (const [group, fields] of Object.entries(h ?? {})) {
    if (fields && typeof fields === 'object' && !Array.isArray(fields)) {
      for (const [k, v] of Object.entries(fields)) out.set(`${group}.${k}`, Array.isArray(v) ? v.join(',') : String(v));
    } else {
      out.set(group, String(fields));
    }
  }
  return out;
}

/** Per key, the differing hyperparameters as "name value, …" (unset ones as "name unset"); null when none differ. */
export function differenceLabels(runs: readonly { key: string; hparams: Json }[]): Map<string, string | null> {
  const flat = runs.map((r) => ({ key: r.key, leaves: leaves(r.hparams) }));
  const names = [...new Set(flat.flatMap((r) => [...r.leaves.keys()]))].sort();
  const differing = names.filter((n) => new Set(flat.map((r) => r.leaves.get(n) ?? '\u0000unset')).size > 1);
  return new Map(flat.map((r) => [r.key, differing.length === 0 ? null
    : differing.map((n) => `${n.slice(n.indexOf('.') + 1)} ${r.leaves.get(n) ?? 'unset'}`).join(', ')]));
}
