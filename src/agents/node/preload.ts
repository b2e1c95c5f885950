/**
 * What `txlens run` preloads into every Node process and worker thread of the
 * test command (`NODE_OPTIONS=--require <dist/agents/node/preload.js>`): the
 * agent (agent.ts, built apart as agent.js beside this file), loaded only where
 * TXLENS_TRACE_DIR is set, and through V8's code cache.
 *
 * A test command starts many short Node processes (node --test starts one per
 * file, and npm, npx and build tools more), and each of them compiled the
 * agent's whole bundle: most of what the agent cost a process at start. With
 * the cache, V8 reads back the code a previous process compiled. The cache
 * lives where the CLI keeps the engine's (src/cache/code-cache.ts: the user's
 * own txlens cache folder, never the test's working directory), named by the agent's
 * build hash; the first process that finds none (or one V8 rejects) compiles
 * the agent as before and writes it as it exits, so it holds the functions
 * that ran; a process that recorded statements writes a second cache, which
 * holds the hooks too, and which later processes read first (STATEMENTS).
 * Any failure there only means a plain compile: never an error.
 * Frames of the agent's code name agent.js, as its own file (runtime.ts).
 */
import { join } from 'node:path';
import { ENV } from '../../trace/schema';

/** The agent bundle's content hash, taken by esbuild.mjs when it builds this file. */
declare const AGENT_BUNDLE_HASH: string | undefined;

/**
 * The agent's second code cache, written by a process that recorded statements. The first process
 * of a command to write the plain one often hooked nothing (a test runner's parent, npm): V8 caches
 * only the functions that ran, so every later process compiled the hooks again, at its first
 * statements. Those read this one, once there is one.
 */
const STATEMENTS = 'statements';

/** What the preload asks of the agent's exports (agent.ts), named here so the preload does not reach the agent's modules. */
interface AgentExports {
  recordedStatements?: () => boolean;
}

if (process.env[ENV.traceDir]) {
  try {
    // Required here, not imported: a process with no trace folder loads none of the built-ins it needs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { requireBundle } = require('../../cache/code-cache') as typeof import('../../cache/code-cache');
    const agent = requireBundle<AgentExports>(join(__dirname, 'agent.js'), typeof AGENT_BUNDLE_HASH === 'string' ? AGENT_BUNDLE_HASH : undefined, undefined, undefined, [STATEMENTS]);
    // A process that recorded statements writes the cache of its own (unless it took its code from
    // that one), holding the hooks' code; any other writes the plain cache when it took none.
    if (agent.cacheVariant !== STATEMENTS) {
      process.once('exit', () => {
        const statements = agent.exports.recordedStatements?.() === true;
        if (statements) agent.saveCache(STATEMENTS);
        else if (agent.cacheVariant === undefined) agent.saveCache();
      });
    }
  } catch (e) {
    // The agent could not load at all: the process runs untraced, as the agent's own failures leave it.
    try {
      process.stderr.write(`txlens: capture disabled in this process: ${String((e as Error)?.message ?? e).split('\n')[0]}\n`);
    } catch {
      // nowhere left to say it
    }
  }
}
