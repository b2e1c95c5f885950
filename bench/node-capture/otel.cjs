// The OpenTelemetry peer of the txlens Node agent, preloaded the same way
// (NODE_OPTIONS=--require) into every process of `node --test`:
// @opentelemetry/instrumentation-pg with the trace SDK's BatchSpanProcessor,
// exporting each batch of spans as NDJSON lines, one write per batch, into
// OTEL_BENCH_SPAN_DIR (one file per process), the work txlens does to write its trace.
// CommonJS on purpose: `--require` runs it before the suite loads pg, which the instrumentation patches.
/* eslint-disable @typescript-eslint/no-require-imports */
const { closeSync, openSync, writeSync } = require('node:fs');
const { join } = require('node:path');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { ExportResultCode, hrTimeToNanoseconds } = require('@opentelemetry/core');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg');

class NdjsonFileExporter {
  constructor(dir) {
    this.fd = openSync(join(dir, `spans-${process.pid}.ndjson`), 'a');
  }

  export(spans, done) {
    let data = '';
    for (const span of spans) {
      const context = span.spanContext();
      data +=
        JSON.stringify({
          name: span.name,
          kind: span.kind,
          traceId: context.traceId,
          spanId: context.spanId,
          parentSpanId: span.parentSpanContext?.spanId,
          start: hrTimeToNanoseconds(span.startTime),
          end: hrTimeToNanoseconds(span.endTime),
          attributes: span.attributes,
          status: span.status,
          events: span.events.map((e) => ({ name: e.name, attributes: e.attributes })),
          scope: span.instrumentationScope.name,
        }) + '\n';
    }
    try {
      writeSync(this.fd, data);
      done({ code: ExportResultCode.SUCCESS });
    } catch (error) {
      done({ code: ExportResultCode.FAILED, error });
    }
  }

  shutdown() {
    closeSync(this.fd);
    return Promise.resolve();
  }

  forceFlush() {
    return Promise.resolve();
  }
}

const dir = process.env.OTEL_BENCH_SPAN_DIR;
if (dir) {
  const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(new NdjsonFileExporter(dir))] });
  provider.register();
  registerInstrumentations({ tracerProvider: provider, instrumentations: [new PgInstrumentation()] });
  // The processor's timer does not keep the process alive: export what is queued when the work is done.
  let flushed = false;
  process.once('beforeExit', () => {
    if (!flushed) {
      flushed = true;
      provider.shutdown().catch(() => {});
    }
  });
}
