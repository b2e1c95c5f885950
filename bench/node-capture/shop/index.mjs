// The shop on the database the run names: TXLENS_BENCH_DB=postgres (TXLENS_BENCH_PG_URL)
// or sqlite (TXLENS_BENCH_SQLITE_DIR, the default). Both expose the same operations;
// the Postgres ones return promises, the SQLite ones values, and the tests await either.
const backend = process.env.TXLENS_BENCH_DB === 'postgres' ? await import('./pg.mjs') : await import('./sqlite.mjs');

export const { OutOfStock } = backend;

/** A fresh shop for one test file; `name` keeps files apart (a schema on Postgres, a file on SQLite). */
export async function openShop(name) {
  return backend.openShop(name);
}

/** Rounds of work per test: TXLENS_BENCH_SCALE (default 1) scales the suite. */
export function rounds(base) {
  const scale = Number(process.env.TXLENS_BENCH_SCALE ?? '1');
  return Math.max(1, Math.round(base * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
}
