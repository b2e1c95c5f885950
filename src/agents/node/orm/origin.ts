/**
 * Where an ORM query was built. Query builders (Knex's, Drizzle's) run when
 * they are awaited, from a microtask whose stack holds none of the app's
 * frames, but they are built in the app's line: the hooks keep the stack of a
 * builder's construction on the builder, and hand it to the driver's hook
 * (`rt.withOrigin`) for the synchronous extent of the ORM's call that sends it.
 */
import * as rt from '../runtime';

/* eslint-disable prefer-rest-params, @typescript-eslint/no-explicit-any */
type AnyFn = (...args: any[]) => any;

const ORIGIN = Symbol('txlens.orm.origin');

/** Keep, on `query`, the stack of the call running now above `above` (the agent's wrapper). */
export function keepOrigin(query: object, above: AnyFn): void {
  (query as any)[ORIGIN] = rt.callSites(above);
}

/**
 * A subclass of an ORM's builder class, with its name, whose instances keep the
 * stack of their construction. `new.target` is the class actually constructed
 * (the ORM's own subclass, or one of ours): its constructors are left out of the stack kept.
 * A builder the ORM builds while it sends another's query keeps the line that query was built
 * at: Drizzle's delete on better-sqlite3 hands back a query promise of its own, built as the
 * delete is awaited and run from a later microtask, with none of the app's frames in its stack.
 */
export function keepingOrigin(Builder: any): any {
  class Built extends Builder {
    constructor() {
      super(...arguments);
      if (!rt.ACTIVE) return;
      const sending = rt.origin;
      if (sending?.frame !== undefined) (this as any)[ORIGIN] = sending;
      else keepOrigin(this, new.target as unknown as AnyFn);
    }
  }
  Object.defineProperty(Built, 'name', { value: Builder.name });
  return Built;
}

/**
 * Run `send` (the ORM sending `query`'s SQL to the driver) as asked for where `query` was built. A
 * builder built where no line of the app was in reach (an ORM above the builder builds it after
 * awaits of its own: MikroORM's unit of work) leaves the driver to look for the line itself; so
 * does one whose only line was in the published code of the package under test (MikroORM's own
 * suite: its unit of work in packages/core/src), for the driver's stack, through the ORM's
 * awaits, reaches the test's line.
 */
export function sentFrom<T>(query: unknown, send: () => T): T {
  const site: rt.Stack | undefined = rt.ACTIVE && query !== null && typeof query === 'object' ? (query as any)[ORIGIN] : undefined;
  return site?.frame === undefined || rt.inPublishedCode(site.frame) ? send() : rt.withOrigin(site, send);
}
