// A ResultSource over a flat map of file path → text (null: a file known by name only), the folders
// implied by the paths: what the view server's /api/files answers, so the results page collects
// exactly as the CLI report does.
import type { ResultSource } from './collect.ts';

export function filesSource(files: Readonly<Record<string, string | null>>): ResultSource {
  // Indexed once: collectResults lists many folders, and a sweep can hold thousands of files.
  const children = new Map<string, Set<string>>();
  for (const path of Object.keys(files)) {
    const parts = path.split('/');
    for (let i = 0; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      let names = children.get(dir);
      if (!names) children.set(dir, names = new Set());
      names.add(parts[i]!);
    }
  }
  return {
    list: (dir) => [...(children.get(dir) ?? [])].sort(),
    read: (path) => (Object.hasOwn(files, path) ? files[path]! : null),
  };
}
