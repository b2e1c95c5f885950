/**
 * Module loader hooks (`module.register`, run in Node's loader-hooks thread),
 * registered by the preload only where Drizzle is installed (esm.ts). The one
 * hook, `load`, appends the epilogue of esm-files.ts to the ES modules that
 * define the classes the agent patches, and hands every other module on as the
 * rest of the chain (tsx's hooks, other loaders) loaded it. Any surprise leaves
 * the module as it was.
 */
import { EPILOGUE_MARK, epilogue, esmHooked } from './esm-files';

interface LoadResult {
  format?: string | null;
  source?: string | ArrayBuffer | ArrayBufferView | null;
  shortCircuit?: boolean;
}

type NextLoad = (url: string, context?: unknown) => Promise<LoadResult>;

function text(source: LoadResult['source']): string | undefined {
  if (typeof source === 'string') return source;
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return Buffer.from(source as Uint8Array).toString('utf8');
  return undefined;
}

export async function load(url: string, context: unknown, nextLoad: NextLoad): Promise<LoadResult> {
  const result = await nextLoad(url, context);
  try {
    const hooked = esmHooked(url);
    if (hooked === undefined || result.format !== 'module') return result;
    const source = text(result.source);
    if (source === undefined || source.includes(EPILOGUE_MARK)) return result;
    return { ...result, source: source + epilogue(hooked) };
  } catch {
    return result;
  }
}
