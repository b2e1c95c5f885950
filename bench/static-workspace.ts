/**
 * A deterministic, real-looking workspace for the static checker: Python
 * services (src/ layout, SQLAlchemy sessions, repositories that commit,
 * `with SessionLocal.begin()`, FastAPI routers with injected sessions, pytest
 * tests that patch where a name is looked up, conftest fixtures) and
 * TypeScript/JavaScript packages (pg, Knex and TypeORM transactions done
 * right, tsconfig paths, jest.spyOn / vi.spyOn / node:test mock.method on live
 * bindings). Every pattern is correct, so the checker must find nothing; with
 * `bugs > 0` a known number of real bugs is seeded and their places returned.
 *
 * Used by test/static/large-workspace.test.ts (no false findings, exactly the
 * seeded ones) and bench/static.ts (check vs syntax-only parse).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface SeededBug {
  /** Workspace-relative path, '/' separators. */
  rel: string;
  line: number;
  rule: 'missing-commit' | 'stale-import-patch';
  /** Static findings are at most warnings: the source alone shows no consequence. */
  severity: 'warning';
  what: string;
}

export interface WorkspaceOptions {
  /** Python files to write (default 1,000). */
  pythonFiles?: number;
  /** TypeScript/JavaScript files to write (default 1,000; config files not counted). */
  typescriptFiles?: number;
  /** Real bugs to seed, spread over the kinds below (default 0). */
  bugs?: number;
}

export interface GeneratedWorkspace {
  root: string;
  python: string[];
  typescript: string[];
  seeded: SeededBug[];
}

/** Seeded bug kinds, taken in turn. */
const BUG_KINDS = ['py-missing-commit', 'ts-missing-commit', 'ts-stale-import', 'py-stale-import'] as const;
type BugKind = (typeof BUG_KINDS)[number];

const ENTITIES = [
  'order', 'customer', 'invoice', 'payment', 'shipment', 'product', 'warehouse', 'supplier', 'refund', 'coupon',
  'review', 'ticket', 'account', 'address', 'cart', 'catalog', 'discount', 'employee', 'ledger', 'message',
];

/** Marks the line a seeded bug is reported at; stripped when the file is written. */
const MARK = '\u0001';

class Writer {
  readonly python: string[] = [];
  readonly typescript: string[] = [];
  readonly seeded: SeededBug[] = [];
  constructor(readonly root: string) {}

  file(rel: string, lines: string[], kind?: 'py' | 'ts', bug?: Omit<SeededBug, 'rel' | 'line'>): void {
    const out: string[] = [];
    lines.forEach((l, i) => {
      // Lines a bug would be reported at are marked whether or not the bug is seeded.
      if (l.startsWith(MARK)) {
        if (bug) this.seeded.push({ rel, line: i + 1, ...bug });
        out.push(l.slice(1));
      } else out.push(l);
    });
    const path = join(this.root, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, out.join('\n') + '\n');
    if (kind === 'py') this.python.push(rel);
    else if (kind === 'ts') this.typescript.push(rel);
  }
}

const cap = (s: string) => s[0].toUpperCase() + s.slice(1);

/** Which entities carry which seeded bug: bug i goes to the i-th unit of its kind. */
function bugPlan(bugs: number): Map<BugKind, Set<number>> {
  const plan = new Map<BugKind, Set<number>>(BUG_KINDS.map((k) => [k, new Set<number>()]));
  for (let i = 0; i < bugs; i++) {
    const kind = BUG_KINDS[i % BUG_KINDS.length];
    // Spread over packages: the 0th, 23rd, 46th... unit of that kind.
    plan.get(kind)!.add(Math.floor(i / BUG_KINDS.length) * 23);
  }
  return plan;
}

export function generateStaticWorkspace(root: string, opts: WorkspaceOptions = {}): GeneratedWorkspace {
  const w = new Writer(root);
  const plan = bugPlan(opts.bugs ?? 0);
  writePython(w, opts.pythonFiles ?? 1000, plan);
  writeTypescript(w, opts.typescriptFiles ?? 1000, plan);
  const wanted = opts.bugs ?? 0;
  // One bug may be reported at several lines (a name patched twice in one test file).
  const placed = new Set(w.seeded.map((b) => b.what)).size;
  if (placed !== wanted) throw new Error(`asked for ${wanted} seeded bugs, the workspace has room for ${placed}`);
  return { root, python: w.python, typescript: w.typescript, seeded: w.seeded };
}

// ---- Python -------------------------------------------------------------------

/** Files per project besides its entities, and per entity. */
const PY_FIXED = 10;
const PY_PER_ENTITY = 6;

function writePython(w: Writer, total: number, plan: Map<BugKind, Set<number>>): void {
  let written = 0;
  let unit = 0;
  let lookupUnit = 0;
  for (let p = 0; written < total; p++) {
    const pkg = `svc${p}`;
    // Half the projects look SessionLocal up through the module (tests patch svc.db.SessionLocal),
    // the other half import it by name (tests patch it in the module that uses it).
    const lookup = p % 2 === 1;
    const room = total - written;
    const entities = Math.max(0, Math.min(ENTITIES.length, Math.floor((room - PY_FIXED) / PY_PER_ENTITY)));
    if (entities === 0) {
      // Top up with plain modules so the count is exact.
      for (let i = 0; i < room; i++) w.file(`python/extra/src/extra/helpers_${i}.py`, helperModule(i), 'py');
      break;
    }
    const names = ENTITIES.slice(0, entities);
    const base = `python/${pkg}`;
    const src = `${base}/src/${pkg}`;
    w.file(`${base}/pyproject.toml`, [`[project]`, `name = "${pkg}"`, `version = "0.1.0"`, ``, `[tool.pytest.ini_options]`, `pythonpath = ["src"]`]);
    w.file(`${src}/__init__.py`, [`"""${pkg}: the ${pkg} service."""`], 'py');
    w.file(`${src}/db.py`, pyDb(), 'py');
    w.file(`${src}/deps.py`, pyDeps(pkg), 'py');
    w.file(`${src}/models.py`, pyModels(names), 'py');
    w.file(`${src}/notify.py`, pyNotify(names), 'py');
    w.file(`${src}/main.py`, pyMain(pkg, names), 'py');
    w.file(`${src}/repositories/__init__.py`, [], 'py');
    w.file(`${src}/services/__init__.py`, [], 'py');
    w.file(`${src}/api/__init__.py`, [], 'py');
    w.file(`${base}/tests/conftest.py`, pyConftest(pkg), 'py');
    written += PY_FIXED;
    for (const e of names) {
      const mc = plan.get('py-missing-commit')!.has(unit);
      const si = lookup && plan.get('py-stale-import')!.has(lookupUnit);
      w.file(`${src}/repositories/${e}_repo.py`, pyRepo(pkg, e), 'py');
      w.file(`${src}/services/${e}_service.py`, pyService(pkg, e, lookup, mc, si), 'py', mc ? { rule: 'missing-commit', severity: 'warning', what: `${pkg}.services.${e}_service.archive_${e}` } : undefined);
      w.file(`${src}/api/${e}_router.py`, pyRouter(pkg, e), 'py');
      w.file(`${src}/schemas_${e}.py`, pySchema(e), 'py');
      w.file(`${base}/tests/test_${e}_service.py`, pyServiceTest(pkg, e, lookup), 'py', si ? { rule: 'stale-import-patch', severity: 'warning', what: `${pkg}.notify.send_${e}_receipt patched, imported by value` } : undefined);
      w.file(`${base}/tests/test_${e}_api.py`, pyApiTest(pkg, e), 'py');
      written += PY_PER_ENTITY;
      unit++;
      // Seeded stale imports only exist in look-up projects: they count their own units.
      if (lookup) lookupUnit++;
    }
  }
}

function helperModule(i: number): string[] {
  return [
    `"""Formatting helpers ${i}."""`,
    `from decimal import Decimal`,
    ``,
    ``,
    `def money_${i}(cents: int) -> str:`,
    `    return f"{Decimal(cents) / 100:.2f}"`,
    ``,
    ``,
    `def slug_${i}(text: str) -> str:`,
    `    return "-".join(part.lower() for part in text.split())`,
  ];
}

function pyDb(): string[] {
  return [
    `import os`,
    ``,
    `from sqlalchemy import create_engine`,
    `from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine`,
    `from sqlalchemy.orm import DeclarativeBase, sessionmaker`,
    ``,
    `DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite:///./app.db")`,
    `engine = create_engine(DATABASE_URL, future=True)`,
    `SessionLocal = sessionmaker(bind=engine, expire_on_commit=False)`,
    `async_engine = create_async_engine(os.environ.get("ASYNC_DATABASE_URL", "sqlite+aiosqlite:///./app.db"))`,
    `AsyncSessionLocal = async_sessionmaker(async_engine, expire_on_commit=False)`,
    ``,
    ``,
    `class Base(DeclarativeBase):`,
    `    pass`,
  ];
}

function pyDeps(pkg: string): string[] {
  return [
    `from collections.abc import Iterator`,
    ``,
    `from sqlalchemy.orm import Session`,
    ``,
    `from ${pkg} import db`,
    ``,
    ``,
    `def get_db() -> Iterator[Session]:`,
    `    session = db.SessionLocal()`,
    `    try:`,
    `        yield session`,
    `    finally:`,
    `        session.close()`,
    ``,
    ``,
    `def get_db_committing() -> Iterator[Session]:`,
    `    with db.SessionLocal.begin() as session:`,
    `        yield session`,
  ];
}

function pyModels(names: string[]): string[] {
  const out = [`from sqlalchemy import ForeignKey, String`, `from sqlalchemy.orm import Mapped, mapped_column`, ``, `from .db import Base`];
  for (const e of names) {
    out.push(
      ``,
      ``,
      `class ${cap(e)}(Base):`,
      `    __tablename__ = "${e}s"`,
      ``,
      `    id: Mapped[int] = mapped_column(primary_key=True)`,
      `    name: Mapped[str] = mapped_column(String(200))`,
      `    status: Mapped[str] = mapped_column(String(20), default="new")`,
      `    owner_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)`,
    );
  }
  return out;
}

function pyNotify(names: string[]): string[] {
  const out = [`import logging`, ``, `log = logging.getLogger(__name__)`];
  for (const e of names) out.push(``, ``, `def send_${e}_receipt(${e}_id: int) -> None:`, `    log.info("receipt for ${e} %s", ${e}_id)`);
  return out;
}

function pyMain(pkg: string, names: string[]): string[] {
  return [
    `from fastapi import FastAPI`,
    ``,
    ...names.map((e) => `from ${pkg}.api import ${e}_router`),
    ``,
    `app = FastAPI(title="${pkg}")`,
    ...names.map((e) => `app.include_router(${e}_router.router)`),
  ];
}

function pyConftest(pkg: string): string[] {
  return [
    `import pytest`,
    `from sqlalchemy import create_engine`,
    `from sqlalchemy.orm import sessionmaker`,
    `from sqlalchemy.pool import StaticPool`,
    ``,
    `from ${pkg}.db import Base`,
    ``,
    ``,
    `@pytest.fixture()`,
    `def engine():`,
    `    eng = create_engine("sqlite://", poolclass=StaticPool)`,
    `    Base.metadata.create_all(eng)`,
    `    yield eng`,
    `    eng.dispose()`,
    ``,
    ``,
    `@pytest.fixture()`,
    `def test_factory(engine):`,
    `    return sessionmaker(bind=engine, expire_on_commit=False)`,
    ``,
    ``,
    `@pytest.fixture()`,
    `def session(test_factory):`,
    `    with test_factory() as s:`,
    `        yield s`,
    `        s.rollback()`,
  ];
}

function pyRepo(pkg: string, e: string): string[] {
  const C = cap(e);
  return [
    `from sqlalchemy import select`,
    `from sqlalchemy.orm import Session`,
    ``,
    `from ${pkg}.models import ${C}`,
    ``,
    ``,
    `class ${C}Repository:`,
    `    """Owns its unit of work: every write is committed here."""`,
    ``,
    `    def __init__(self, session: Session):`,
    `        self.session = session`,
    ``,
    `    def add(self, name: str) -> ${C}:`,
    `        ${e} = ${C}(name=name)`,
    `        self.session.add(${e})`,
    `        self.session.commit()`,
    `        self.session.refresh(${e})`,
    `        return ${e}`,
    ``,
    `    def get(self, ${e}_id: int) -> ${C} | None:`,
    `        return self.session.get(${C}, ${e}_id)`,
    ``,
    `    def list_open(self) -> list[${C}]:`,
    `        return list(self.session.scalars(select(${C}).where(${C}.status != "closed")))`,
    ``,
    `    def close(self, ${e}_id: int) -> None:`,
    `        ${e} = self.session.get(${C}, ${e}_id)`,
    `        if ${e} is not None:`,
    `            ${e}.status = "closed"`,
    `            self.session.commit()`,
    ``,
    ``,
    `def save_${e}(session: Session, ${e}: ${C}) -> ${C}:`,
    `    """Helper for callers that own the transaction."""`,
    `    session.add(${e})`,
    `    session.flush()`,
    `    return ${e}`,
  ];
}

function pyService(pkg: string, e: string, lookup: boolean, missingCommit: boolean, staleImport: boolean): string[] {
  const C = cap(e);
  const factory = lookup ? 'db.SessionLocal' : 'SessionLocal';
  const asyncFactory = lookup ? 'db.AsyncSessionLocal' : 'AsyncSessionLocal';
  const notifyCall = lookup && !staleImport ? `notify.send_${e}_receipt` : `send_${e}_receipt`;
  const imports = lookup
    ? [`from ${pkg} import db${staleImport ? '' : ', notify'}`, ...(staleImport ? [`from ${pkg}.notify import send_${e}_receipt`] : [])]
    : [`from ${pkg}.db import AsyncSessionLocal, SessionLocal`, `from ${pkg}.notify import send_${e}_receipt`];
  const archive = missingCommit
    ? [
        `def archive_${e}(${e}_id: int) -> None:`,
        `    session = ${factory}()`,
        `    ${e} = session.get(${C}, ${e}_id)`,
        `${MARK}    session.delete(${e})`,
        `    session.close()`,
      ]
    : [
        `def archive_${e}(${e}_id: int) -> None:`,
        `    with ${factory}.begin() as session:`,
        `        ${e} = session.get(${C}, ${e}_id)`,
        `        session.delete(${e})`,
      ];
  return [
    `from sqlalchemy import select, update`,
    `from sqlalchemy.orm import Session`,
    ``,
    ...imports,
    `from ${pkg}.models import ${C}`,
    `from ${pkg}.repositories.${e}_repo import ${C}Repository, save_${e}`,
    ``,
    ``,
    `def create_${e}(name: str) -> int:`,
    `    with ${factory}.begin() as session:`,
    `        ${e} = ${C}(name=name)`,
    `        session.add(${e})`,
    `        session.flush()`,
    `        ${e}_id = ${e}.id`,
    `    ${notifyCall}(${e}_id)`,
    `    return ${e}_id`,
    ``,
    ``,
    `def rename_${e}(${e}_id: int, name: str) -> bool:`,
    `    with ${factory}() as session:`,
    `        ${e} = session.get(${C}, ${e}_id)`,
    `        if ${e} is None:`,
    `            return False`,
    `        ${e}.name = name`,
    `        session.commit()`,
    `        return True`,
    ``,
    ``,
    `def close_all_${e}s() -> int:`,
    `    session = ${factory}()`,
    `    try:`,
    `        result = session.execute(update(${C}).where(${C}.status == "new").values(status="closed"))`,
    `        session.commit()`,
    `        return result.rowcount`,
    `    except Exception:`,
    `        session.rollback()`,
    `        raise`,
    `    finally:`,
    `        session.close()`,
    ``,
    ``,
    `def import_${e}s(rows: list[str]) -> None:`,
    `    with ${factory}() as session, session.begin():`,
    `        for row in rows:`,
    `            save_${e}(session, ${C}(name=row))`,
    ``,
    ``,
    `def add_via_repository(name: str) -> ${C}:`,
    `    with ${factory}() as session:`,
    `        return ${C}Repository(session).add(name)`,
    ``,
    ``,
    `async def mark_${e}_done(${e}_id: int) -> None:`,
    `    async with ${asyncFactory}() as session:`,
    `        ${e} = await session.get(${C}, ${e}_id)`,
    `        ${e}.status = "done"`,
    `        await session.commit()`,
    ``,
    ``,
    `def count_${e}s(session: Session) -> int:`,
    `    return len(list(session.scalars(select(${C}))))`,
    ``,
    ``,
    ...archive,
  ];
}

function pyRouter(pkg: string, e: string): string[] {
  const C = cap(e);
  return [
    `from fastapi import APIRouter, Depends, HTTPException`,
    `from pydantic import BaseModel`,
    `from sqlalchemy.orm import Session`,
    ``,
    `from ${pkg}.deps import get_db, get_db_committing`,
    `from ${pkg}.models import ${C}`,
    `from ${pkg}.repositories.${e}_repo import ${C}Repository`,
    ``,
    `router = APIRouter(prefix="/${e}s")`,
    ``,
    ``,
    `class ${C}In(BaseModel):`,
    `    name: str`,
    ``,
    ``,
    `@router.post("/")`,
    `def create(payload: ${C}In, db: Session = Depends(get_db)) -> dict:`,
    `    ${e} = ${C}(name=payload.name)`,
    `    db.add(${e})`,
    `    db.commit()`,
    `    db.refresh(${e})`,
    `    return {"id": ${e}.id}`,
    ``,
    ``,
    `@router.post("/via-repository")`,
    `def create_via_repository(payload: ${C}In, db: Session = Depends(get_db)) -> dict:`,
    `    return {"id": ${C}Repository(db).add(payload.name).id}`,
    ``,
    ``,
    `@router.delete("/{${e}_id}")`,
    `def delete(${e}_id: int, db: Session = Depends(get_db_committing)) -> None:`,
    `    ${e} = db.get(${C}, ${e}_id)`,
    `    if ${e} is None:`,
    `        raise HTTPException(status_code=404)`,
    `    db.delete(${e})`,
    ``,
    ``,
    `@router.get("/{${e}_id}")`,
    `def read(${e}_id: int, db: Session = Depends(get_db)) -> dict:`,
    `    ${e} = ${C}Repository(db).get(${e}_id)`,
    `    if ${e} is None:`,
    `        raise HTTPException(status_code=404)`,
    `    return {"id": ${e}.id, "name": ${e}.name, "status": ${e}.status}`,
  ];
}

function pySchema(e: string): string[] {
  const C = cap(e);
  return [
    `from dataclasses import dataclass`,
    ``,
    ``,
    `@dataclass(frozen=True)`,
    `class ${C}View:`,
    `    id: int`,
    `    name: str`,
    `    status: str`,
    ``,
    `    @classmethod`,
    `    def from_row(cls, row) -> "${C}View":`,
    `        return cls(id=row.id, name=row.name, status=row.status)`,
  ];
}

function pyServiceTest(pkg: string, e: string, lookup: boolean): string[] {
  const C = cap(e);
  const mod = `${pkg}.services.${e}_service`;
  // Patch where the name is looked up: the module attribute when the service reads db.SessionLocal at
  // call time, the service's own copy when it imported SessionLocal by name.
  const sessionTarget = lookup ? `${pkg}.db.SessionLocal` : `${mod}.SessionLocal`;
  const notifyTarget = lookup ? `${pkg}.notify.send_${e}_receipt` : `${mod}.send_${e}_receipt`;
  return [
    `from unittest import mock`,
    ``,
    `import pytest`,
    ``,
    `from ${pkg}.models import ${C}`,
    `from ${pkg}.services import ${e}_service`,
    ``,
    ``,
    `@pytest.fixture()`,
    `def patched(monkeypatch, test_factory):`,
    `    monkeypatch.setattr("${sessionTarget}", test_factory)`,
    `    return test_factory`,
    ``,
    ``,
    `def test_create_${e}(patched):`,
    `${MARK}    with mock.patch("${notifyTarget}") as sent:`,
    `        ${e}_id = ${e}_service.create_${e}("first")`,
    `    sent.assert_called_once_with(${e}_id)`,
    `    with patched() as session:`,
    `        assert session.get(${C}, ${e}_id).name == "first"`,
    ``,
    ``,
    `def test_rename_${e}(patched, mocker):`,
    `${MARK}    mocker.patch("${notifyTarget}")`,
    `    ${e}_id = ${e}_service.create_${e}("old")`,
    `    assert ${e}_service.rename_${e}(${e}_id, "new") is True`,
    ``,
    ``,
    `def test_close_all(patched):`,
    `    ${e}_service.import_${e}s(["a", "b"])`,
    `    assert ${e}_service.close_all_${e}s() == 2`,
  ];
}

function pyApiTest(pkg: string, e: string): string[] {
  return [
    `from fastapi.testclient import TestClient`,
    ``,
    `from ${pkg}.deps import get_db`,
    `from ${pkg}.main import app`,
    ``,
    ``,
    `def test_create_and_read(session):`,
    `    app.dependency_overrides[get_db] = lambda: session`,
    `    try:`,
    `        client = TestClient(app)`,
    `        created = client.post("/${e}s/", json={"name": "x"}).json()`,
    `        assert client.get(f"/${e}s/{created['id']}").json()["name"] == "x"`,
    `    finally:`,
    `        app.dependency_overrides.clear()`,
  ];
}

// ---- TypeScript / JavaScript --------------------------------------------------------

/** Per package: src/db.ts, src/index.ts, src/mailer.js, src/legacy/db.js; per entity: see below. */
const TS_FIXED = 4;
const TS_PER_ENTITY = 7;
const RUNNERS = ['jest', 'vitest', 'node'] as const;

function writeTypescript(w: Writer, total: number, plan: Map<BugKind, Set<number>>): void {
  let written = 0;
  let unit = 0;
  const pkgs: string[] = [];
  for (let p = 0; written < total; p++) {
    const room = total - written;
    const entities = Math.max(0, Math.min(ENTITIES.length, Math.floor((room - TS_FIXED) / TS_PER_ENTITY)));
    if (entities === 0) {
      for (let i = 0; i < room; i++) w.file(`typescript/packages/shared/src/format-${i}.ts`, tsHelper(i), 'ts');
      if (room) w.file(`typescript/packages/shared/package.json`, [JSON.stringify({ name: '@acme/shared', version: '1.0.0', main: 'src/format-0.ts' }, null, 2)]);
      break;
    }
    const name = `pkg${p}`;
    pkgs.push(name);
    const runner = RUNNERS[p % RUNNERS.length];
    const base = `typescript/packages/${name}`;
    const names = ENTITIES.slice(0, entities);
    w.file(`${base}/package.json`, [JSON.stringify({ name: `@acme/${name}`, version: '1.0.0', main: 'dist/index.js', scripts: { test: runner === 'node' ? 'node --test' : runner } }, null, 2)]);
    w.file(`${base}/tsconfig.json`, [
      `{`,
      `  "compilerOptions": {`,
      `    "module": "commonjs",`,
      `    "target": "ES2022",`,
      `    "strict": true,`,
      `    "baseUrl": ".",`,
      `    "paths": { "@${name}/*": ["src/*"] }`,
      `  }`,
      `}`,
    ]);
    w.file(`${base}/src/db.ts`, tsDb(), 'ts');
    w.file(`${base}/src/index.ts`, names.map((e) => `export * from './services/${e}.service';`), 'ts');
    w.file(`${base}/src/mailer.js`, jsMailer(names), 'ts');
    w.file(`${base}/src/legacy/db.js`, jsDb(), 'ts');
    written += TS_FIXED;
    for (const e of names) {
      const mc = plan.get('ts-missing-commit')!.has(unit);
      const si = plan.get('ts-stale-import')!.has(unit);
      w.file(`${base}/src/repositories/${e}.repository.ts`, tsRepository(e, mc), 'ts', mc ? { rule: 'missing-commit', severity: 'warning', what: `${name} ${e}.repository insert without COMMIT` } : undefined);
      w.file(`${base}/src/repositories/${e}.knex.ts`, tsKnex(e), 'ts');
      w.file(`${base}/src/repositories/${e}.typeorm.ts`, tsTypeorm(e), 'ts');
      w.file(`${base}/src/services/${e}.service.ts`, tsService(name, e), 'ts');
      w.file(`${base}/src/legacy/${e}.js`, jsLegacy(e, si), 'ts');
      w.file(`${base}/test/${e}.service.test.ts`, tsServiceTest(name, e, runner), 'ts');
      w.file(`${base}/test/${e}.legacy.test.js`, jsLegacyTest(e), 'ts', si ? { rule: 'stale-import-patch', severity: 'warning', what: `${name} legacy/${e}.js destructured the mailer` } : undefined);
      written += TS_PER_ENTITY;
      unit++;
    }
  }
  w.file(`typescript/package.json`, [JSON.stringify({ name: 'acme', private: true, workspaces: ['packages/*'] }, null, 2)]);
  void pkgs;
}

function tsHelper(i: number): string[] {
  return [`export function formatCents${i}(cents: number): string {`, `  return (cents / 100).toFixed(2);`, `}`];
}

function tsDb(): string[] {
  return [
    `import { Pool, type PoolClient } from 'pg';`,
    ``,
    `export const pool = new Pool({ connectionString: process.env.DATABASE_URL });`,
    ``,
    `export async function query<T = unknown>(text: string, params: unknown[] = []): Promise<{ rows: T[]; rowCount: number | null }> {`,
    `  return pool.query(text, params) as never;`,
    `}`,
    ``,
    `export async function withTransaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {`,
    `  const client = await pool.connect();`,
    `  try {`,
    `    await client.query('BEGIN');`,
    `    const result = await work(client);`,
    `    await client.query('COMMIT');`,
    `    return result;`,
    `  } catch (err) {`,
    `    await client.query('ROLLBACK');`,
    `    throw err;`,
    `  } finally {`,
    `    client.release();`,
    `  }`,
    `}`,
  ];
}

function jsMailer(names: string[]): string[] {
  const out = [`'use strict';`, ``];
  for (const e of names) out.push(`async function send${cap(e)}Receipt(id) {`, `  return { queued: true, id };`, `}`, ``);
  out.push(`module.exports = { ${names.map((e) => `send${cap(e)}Receipt`).join(', ')} };`);
  return out;
}

function jsDb(): string[] {
  return [
    `'use strict';`,
    `const { Pool } = require('pg');`,
    ``,
    `const pool = new Pool({ connectionString: process.env.DATABASE_URL });`,
    ``,
    `async function query(text, params) {`,
    `  return pool.query(text, params);`,
    `}`,
    ``,
    `module.exports = { pool, query };`,
  ];
}

function tsRepository(e: string, missingCommit: boolean): string[] {
  const C = cap(e);
  return [
    `import { pool, query } from '../db';`,
    ``,
    `export interface ${C}Row {`,
    `  id: number;`,
    `  name: string;`,
    `  status: string;`,
    `}`,
    ``,
    `export async function find${C}(id: number): Promise<${C}Row | null> {`,
    `  const { rows } = await query<${C}Row>('SELECT id, name, status FROM ${e}s WHERE id = $1', [id]);`,
    `  return rows[0] ?? null;`,
    `}`,
    ``,
    `export async function create${C}(name: string, auditBy: number): Promise<number> {`,
    `  const client = await pool.connect();`,
    `  try {`,
    `    await client.query('BEGIN');`,
    `    const { rows } = await client.query('INSERT INTO ${e}s (name) VALUES ($1) RETURNING id', [name]);`,
    `    await client.query('INSERT INTO audit (entity, entity_id, actor) VALUES ($1, $2, $3)', ['${e}', rows[0].id, auditBy]);`,
    ...(missingCommit ? [] : [`    await client.query('COMMIT');`]),
    // Without the COMMIT, the return is where the transaction is left open.
    `${MARK}    return rows[0].id;`,
    `  } catch (err) {`,
    `    await client.query('ROLLBACK');`,
    `    throw err;`,
    `  } finally {`,
    `    client.release();`,
    `  }`,
    `}`,
    ``,
    `export const ${e}Repository = {`,
    `  find: find${C},`,
    `  create: create${C},`,
    `  async rename(id: number, name: string): Promise<void> {`,
    `    await query('UPDATE ${e}s SET name = $1 WHERE id = $2', [name, id]);`,
    `  },`,
    `};`,
  ];
}

function tsKnex(e: string): string[] {
  const C = cap(e);
  return [
    `import type { Knex } from 'knex';`,
    ``,
    `export async function archive${C}s(knex: Knex, ids: number[]): Promise<void> {`,
    `  const trx = await knex.transaction();`,
    `  try {`,
    `    await trx('${e}s').whereIn('id', ids).update({ status: 'archived' });`,
    `    await trx('audit').insert({ entity: '${e}', count: ids.length });`,
    `    await trx.commit();`,
    `  } catch (err) {`,
    `    await trx.rollback();`,
    `    throw err;`,
    `  }`,
    `}`,
    ``,
    `export async function rename${C}(knex: Knex, id: number, name: string): Promise<void> {`,
    `  await knex.transaction(async (trx) => {`,
    `    await trx('${e}s').where({ id }).update({ name });`,
    `    await trx('audit').insert({ entity: '${e}', entity_id: id });`,
    `  });`,
    `}`,
  ];
}

function tsTypeorm(e: string): string[] {
  const C = cap(e);
  return [
    `import type { DataSource } from 'typeorm';`,
    ``,
    `export async function close${C}(dataSource: DataSource, id: number): Promise<void> {`,
    `  const runner = dataSource.createQueryRunner();`,
    `  await runner.connect();`,
    `  await runner.startTransaction();`,
    `  try {`,
    `    await runner.manager.update('${e}s', { id }, { status: 'closed' });`,
    `    await runner.commitTransaction();`,
    `  } catch (err) {`,
    `    await runner.rollbackTransaction();`,
    `    throw err;`,
    `  } finally {`,
    `    await runner.release();`,
    `  }`,
    `}`,
    ``,
    `export async function reopen${C}(dataSource: DataSource, id: number): Promise<void> {`,
    `  await dataSource.transaction(async (manager) => {`,
    `    await manager.update('${e}s', { id }, { status: 'open' });`,
    `  });`,
    `}`,
  ];
}

function tsService(pkg: string, e: string): string[] {
  const C = cap(e);
  return [
    `import { create${C}, find${C} } from '@${pkg}/repositories/${e}.repository';`,
    `import { withTransaction } from '@${pkg}/db';`,
    ``,
    `export async function register${C}(name: string, actor: number): Promise<number> {`,
    `  if (!name.trim()) throw new Error('name required');`,
    `  return create${C}(name, actor);`,
    `}`,
    ``,
    `export async function describe${C}(id: number): Promise<string> {`,
    `  const row = await find${C}(id);`,
    `  return row ? \`\${row.name} (\${row.status})\` : 'missing';`,
    `}`,
    ``,
    `export async function bulkRename${C}(ids: number[], name: string): Promise<void> {`,
    `  await withTransaction(async (client) => {`,
    `    for (const id of ids) await client.query('UPDATE ${e}s SET name = $1 WHERE id = $2', [name, id]);`,
    `  });`,
    `}`,
  ];
}

function jsLegacy(e: string, staleImport: boolean): string[] {
  const C = cap(e);
  return [
    `'use strict';`,
    `const db = require('./db');`,
    staleImport ? `const { send${C}Receipt } = require('../mailer');` : `const mailer = require('../mailer');`,
    ``,
    `async function close${C}(id) {`,
    `  const { rowCount } = await db.query("UPDATE ${e}s SET status = 'closed' WHERE id = $1", [id]);`,
    `  if (rowCount === 1) await ${staleImport ? '' : 'mailer.'}send${C}Receipt(id);`,
    `  return rowCount === 1;`,
    `}`,
    ``,
    `module.exports = { close${C} };`,
  ];
}

function tsServiceTest(pkg: string, e: string, runner: (typeof RUNNERS)[number]): string[] {
  const C = cap(e);
  if (runner === 'vitest') {
    // Vitest: spy on the repository object's method (an object property, not a namespace export).
    return [
      `import { afterEach, describe, expect, it, vi } from 'vitest';`,
      `import { ${e}Repository } from '@${pkg}/repositories/${e}.repository';`,
      ``,
      `describe('${e} repository object', () => {`,
      `  afterEach(() => vi.restoreAllMocks());`,
      ``,
      `  it('renames through the repository', async () => {`,
      `    const rename = vi.spyOn(${e}Repository, 'rename').mockResolvedValue(undefined);`,
      `    await ${e}Repository.rename(1, 'x');`,
      `    expect(rename).toHaveBeenCalledWith(1, 'x');`,
      `  });`,
      `});`,
    ];
  }
  if (runner === 'node') {
    return [
      `import { test, mock } from 'node:test';`,
      `import assert from 'node:assert/strict';`,
      `import * as repo from '@${pkg}/repositories/${e}.repository';`,
      `import { register${C} } from '@${pkg}/services/${e}.service';`,
      ``,
      `test('register${C} creates through the repository', async (t) => {`,
      `  t.after(() => mock.restoreAll());`,
      `  mock.method(repo, 'create${C}', async () => 42);`,
      `  assert.equal(await register${C}('a', 1), 42);`,
      `});`,
    ];
  }
  return [
    `import * as repo from '@${pkg}/repositories/${e}.repository';`,
    `import { describe${C}, register${C} } from '@${pkg}/services/${e}.service';`,
    ``,
    `describe('${e} service', () => {`,
    `  afterEach(() => jest.restoreAllMocks());`,
    ``,
    `  it('registers', async () => {`,
    `    jest.spyOn(repo, 'create${C}').mockResolvedValue(7);`,
    `    expect(await register${C}('n', 1)).toBe(7);`,
    `  });`,
    ``,
    `  it('describes', async () => {`,
    `    jest.spyOn(repo, 'find${C}').mockResolvedValue({ id: 1, name: 'n', status: 'new' });`,
    `    expect(await describe${C}(1)).toBe('n (new)');`,
    `  });`,
    `});`,
  ];
}

function jsLegacyTest(e: string): string[] {
  const C = cap(e);
  return [
    `'use strict';`,
    `const { test, mock } = require('node:test');`,
    `const assert = require('node:assert/strict');`,
    `const db = require('../src/legacy/db');`,
    `const mailer = require('../src/mailer');`,
    `const legacy = require('../src/legacy/${e}');`,
    ``,
    `test('close${C} sends the receipt', async (t) => {`,
    `  t.after(() => mock.restoreAll());`,
    `  mock.method(db, 'query', async () => ({ rows: [], rowCount: 1 }));`,
    `${MARK}  const sent = mock.method(mailer, 'send${C}Receipt', async () => ({ queued: true }));`,
    `  assert.equal(await legacy.close${C}(3), true);`,
    `  assert.equal(sent.mock.callCount(), 1);`,
    `});`,
  ];
}

