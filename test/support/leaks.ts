// Where a secret marker ended up: the privacy tests (`--params off`) put a unique
// value into a run and then look for it in every file the run left behind.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Every file under `dir`, at any depth. */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** The places (name, content) that contain `marker`, each with the text around it, for an assertion's message. */
export function leaks(places: Array<[string, string]>, marker: string): string[] {
  return places
    .filter(([, content]) => content.includes(marker))
    .map(([where, content]) => `${where}: …${content.slice(Math.max(0, content.indexOf(marker) - 120), content.indexOf(marker) + 40)}…`);
}
