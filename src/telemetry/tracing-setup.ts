/**
 * `kubeloop/telemetry`: one call that wires the OpenTelemetry SDK for kubeloop's
 * spans (and yours), configured by the standard `OTEL_*` variables.
 *
 * The core library depends only on `@opentelemetry/api`; this helper loads the
 * SDK packages when called, so installing them is optional:
 *
 *   npm i @opentelemetry/sdk-trace-node @opentelemetry/resources \
 *         @opentelemetry/exporter-trace-otlp-proto @opentelemetry/exporter-trace-otlp-grpc
 *
 * Honoured: OTEL_TRACES_EXPORTER (otlp | none), OTEL_EXPORTER_OTLP_ENDPOINT,
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL and
 * OTEL_EXPORTER_OTLP_TRACES_PROTOCOL (grpc | http/protobuf), OTEL_EXPORTER_OTLP_HEADERS,
 * OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_*.
 * With no endpoint and no exporter given, tracing stays off and costs nothing.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';

export interface TracingOptions {
  /** `service.name` unless OTEL_SERVICE_NAME says otherwise. */
  serviceName?: string;
  /** Export here instead of OTLP (an in-memory exporter in tests, say). */
  exporter?: SpanExporter;
  /** Export each span at once instead of in batches (tests). Default false. */
  simple?: boolean;
  /** Environment to read instead of `process.env`. */
  env?: NodeJS.ProcessEnv;
}

export interface Tracing {
  /** False when nothing was configured and tracing stays off. */
  readonly enabled: boolean;
  /** `grpc`, `http/protobuf`, `custom` or `none`. */
  readonly protocol: string;
  /** Exports what is buffered now. */
  flush(): Promise<void>;
  /** Flushes, stops exporting and unregisters the global tracer provider. */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { enabled: false, protocol: 'none', flush: async () => {}, shutdown: async () => {} };

async function load<T>(name: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      throw new Error(`setupTracing needs the optional package ${name}; install it with \`npm i ${name}\`.`, { cause: e });
    }
    throw e;
  }
}

/**
 * The traces endpoint `env` names, as the OTLP exporters derive it: the
 * signal-specific variable as is, else the generic one with `path` appended
 * (http/protobuf) or as is (gRPC, `path` empty). Undefined leaves the exporter's default.
 */
function otlpUrl(env: NodeJS.ProcessEnv, path: string): string | undefined {
  const specific = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (specific) return specific;
  const generic = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!generic || !path) return generic || undefined;
  return `${generic.endsWith('/') ? generic : `${generic}/`}${path}`;
}

/**
 * Registers a tracer provider that batches spans to an OTLP endpoint (or to
 * `options.exporter`), with W3C trace-context propagation. Call `shutdown()`
 * before exit so the last batch is sent.
 *
 * @example
 * import { setupTracing } from 'kubeloop/telemetry';
 * const tracing = await setupTracing({ serviceName: 'document-controller' });
 * // ... run controllers ...
 * await tracing.shutdown();
 */
export async function setupTracing(options: TracingOptions = {}): Promise<Tracing> {
  const env = options.env ?? process.env;
  const exporterKind = (env.OTEL_TRACES_EXPORTER ?? '').trim().toLowerCase();
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!options.exporter && (exporterKind === 'none' || (!endpoint && exporterKind !== 'otlp'))) return OFF;
  if (!options.exporter && exporterKind !== '' && exporterKind !== 'otlp') {
    throw new Error(`OTEL_TRACES_EXPORTER=${exporterKind} is not supported by setupTracing: use otlp or none.`);
  }

  const protocol = options.exporter ? 'custom' : (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf').trim();
  let exporter: SpanExporter;
  if (options.exporter) exporter = options.exporter;
  else if (protocol === 'grpc') {
    const { OTLPTraceExporter } = await load<typeof import('@opentelemetry/exporter-trace-otlp-grpc')>('@opentelemetry/exporter-trace-otlp-grpc');
    // The exporters read process.env themselves: pass the endpoint `env` names so that options.env is honoured.
    exporter = new OTLPTraceExporter({ url: otlpUrl(env, '') });
  } else if (protocol === 'http/protobuf') {
    const { OTLPTraceExporter } = await load<typeof import('@opentelemetry/exporter-trace-otlp-proto')>('@opentelemetry/exporter-trace-otlp-proto');
    exporter = new OTLPTraceExporter({ url: otlpUrl(env, 'v1/traces') });
  } else {
    throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported by setupTracing: use grpc or http/protobuf.`);
  }

  const sdk = await load<typeof import('@opentelemetry/sdk-trace-node')>('@opentelemetry/sdk-trace-node');
  const resources = await load<typeof import('@opentelemetry/resources')>('@opentelemetry/resources');
  // The code's service name is the default; OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME override it.
  let resource = resources.defaultResource();
  if (options.serviceName) resource = resource.merge(resources.resourceFromAttributes({ 'service.name': options.serviceName }));
  resource = resource.merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const processor: SpanProcessor = options.simple ? new sdk.SimpleSpanProcessor(exporter) : new sdk.BatchSpanProcessor(exporter);
  const provider = new sdk.NodeTracerProvider({ resource, spanProcessors: [processor] });
  provider.register();

  let stopped = false;
  return {
    enabled: true,
    protocol,
    flush: () => provider.forceFlush(),
    async shutdown() {
      if (stopped) return;
      stopped = true;
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
