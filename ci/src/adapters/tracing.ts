// Adapter: the pipeline's own spans (deploy phases, operations), through the OpenTelemetry API. They go wherever the
// process's tracer provider sends them: in library mode the Dagger SDK starts one when an OTEL_* variable is set
// (OTEL_EXPORTER_OTLP_ENDPOINT: the collector), in module mode the module runtime's provider sends them to the
// engine, which shows them in Dagger's own trace. Without a provider every span is a no-op.
import { SpanStatusCode, trace, type Attributes } from '@opentelemetry/api'

const tracer = () => trace.getTracer('graphmemory-ci')

/** Runs `fn` inside a span named `name` (a child of the active span); a throw marks the span failed and ends it. */
export async function inSpan<T>(name: string, attributes: Attributes, fn: () => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn()
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      span.setStatus({ code: SpanStatusCode.ERROR, message })
      if (err instanceof Error) span.recordException(err)
      throw err
    } finally {
      span.end()
    }
  })
}

/** Marks the active span failed with `why` (an operation that resolved with a failure rather than throwing). */
export function markFailed(why: string): void {
  trace.getActiveSpan()?.setStatus({ code: SpanStatusCode.ERROR, message: why })
}

/** The active span's trace id, for a line that lets a user open the run's trace ('' without a trace). */
export function traceId(): string {
  const ctx = trace.getActiveSpan()?.spanContext()
  return ctx && trace.isSpanContextValid(ctx) ? ctx.traceId : ''
}
