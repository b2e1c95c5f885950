/** The dotted name an imported callee refers to, e.g. FakeSession → app.fakes.FakeSession (undefined when not imported). */
export function resolveExprName(callee: string, table: Map<string, string>): string | undefined {
  const [head, ...rest] = callee.split('.');
  const base = table.get(head);
  return base ? [base, ...rest].join('.') : undefined;
}
