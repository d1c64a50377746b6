/**
 * OTLP trace receivers for tests: an http/protobuf one (node:http) and a gRPC one
 * (@grpc/grpc-js), both decoding ExportTraceServiceRequest with protobufjs from the
 * few messages of the OTLP protos declared below, independently of the exporter's
 * own serializer.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

// Field numbers as in opentelemetry-proto (trace/v1/trace.proto, common/v1/common.proto,
// resource/v1/resource.proto, collector/trace/v1/trace_service.proto). Fields not
// declared here are skipped by the decoder.
const OTLP_PROTO = `
syntax = "proto3";
package opentelemetry.proto.collector.trace.v1;

message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }
message ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }

message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
message InstrumentationScope { string name = 1; string version = 2; }
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  bytes parent_span_id = 4;
  string name = 5;
  SpanKind kind = 6;
  repeated KeyValue attributes = 9;
  repeated Link links = 13;
  Status status = 15;
}
message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; }
enum SpanKind {
  SPAN_KIND_UNSPECIFIED = 0;
  SPAN_KIND_INTERNAL = 1;
  SPAN_KIND_SERVER = 2;
  SPAN_KIND_CLIENT = 3;
  SPAN_KIND_PRODUCER = 4;
  SPAN_KIND_CONSUMER = 5;
}
message Status { string message = 2; StatusCode code = 3; }
enum StatusCode { STATUS_CODE_UNSET = 0; STATUS_CODE_OK = 1; STATUS_CODE_ERROR = 2; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    bytes bytes_value = 7;
  }
}
`;

const root = protobuf.parse(OTLP_PROTO, { keepCase: true }).root;
const RequestType = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
const ResponseType = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse');

export const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** One received span, flattened, with its resource's attributes. Ids are lower-case hex ('' when absent). */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** 'SPAN_KIND_CLIENT' etc. */
  kind: string;
  attributes: Record<string, string | number | boolean>;
  /** Span links: other spans (of other traces, usually) this one refers to. */
  links: { traceId: string; spanId: string; attributes: Record<string, string | number | boolean> }[];
  /** 'STATUS_CODE_UNSET' | 'STATUS_CODE_OK' | 'STATUS_CODE_ERROR' */
  statusCode: string;
  statusMessage: string;
  resource: Record<string, string | number | boolean>;
  scope: string;
}

interface PlainKeyValue {
  key: string;
  value?: { string_value?: string; bool_value?: boolean; int_value?: number; double_value?: number; bytes_value?: string };
}

function attributes(kvs: PlainKeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of kvs ?? []) {
    const v = kv.value ?? {};
    const value = v.string_value ?? v.bool_value ?? v.int_value ?? v.double_value ?? v.bytes_value;
    if (value !== undefined) out[kv.key] = value;
  }
  return out;
}

/** Decodes an ExportTraceServiceRequest into flat spans. Throws on a malformed payload. */
export function decodeExportRequest(payload: Uint8Array): ReceivedSpan[] {
  return flattenExportRequest(RequestType.decode(payload));
}

/** Flattens a decoded ExportTraceServiceRequest. */
export function flattenExportRequest(message: protobuf.Message): ReceivedSpan[] {
  const plain = RequestType.toObject(message, { longs: Number, enums: String, bytes: String, defaults: true, oneofs: false }) as {
    resource_spans: {
      resource?: { attributes: PlainKeyValue[] };
      scope_spans: {
        scope?: { name: string };
        spans: {
          trace_id: string; span_id: string; parent_span_id: string; name: string; kind: string;
          attributes: PlainKeyValue[]; status?: { code: string; message: string };
          links: { trace_id: string; span_id: string; attributes: PlainKeyValue[] }[];
        }[];
      }[];
    }[];
  };
  const hex = (base64: string) => Buffer.from(base64, 'base64').toString('hex');
  return plain.resource_spans.flatMap((rs) =>
    rs.scope_spans.flatMap((ss) =>
      ss.spans.map((s) => ({
        traceId: hex(s.trace_id),
        spanId: hex(s.span_id),
        parentSpanId: hex(s.parent_span_id),
        name: s.name,
        kind: s.kind,
        attributes: attributes(s.attributes),
        links: s.links.map((l) => ({ traceId: hex(l.trace_id), spanId: hex(l.span_id), attributes: attributes(l.attributes) })),
        statusCode: s.status?.code ?? 'STATUS_CODE_UNSET',
        statusMessage: s.status?.message ?? '',
        resource: attributes(rs.resource?.attributes),
        scope: ss.scope?.name ?? '',
      })),
    ),
  );
}

export interface OtlpReceiver {
  /** The value for OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly endpoint: string;
  /** Every span received so far, in arrival order. */
  readonly spans: ReceivedSpan[];
  /** Export requests received (and decoded) so far. */
  readonly requests: number;
  /** Problems seen: wrong path or content type, undecodable payloads. */
  readonly problems: string[];
  close(): Promise<void>;
}

/** A receiver for OTLP/HTTP with protobuf payloads (POST /v1/traces, application/x-protobuf). */
export async function startHttpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const problems: string[] = [];
  let requests = 0;
  const server: HttpServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const type = req.headers['content-type'] ?? '';
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        problems.push(`unexpected ${req.method} ${req.url}`);
        res.writeHead(404).end();
        return;
      }
      if (type !== 'application/x-protobuf') {
        problems.push(`unexpected content-type ${type}`);
        res.writeHead(415).end();
        return;
      }
      try {
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        spans.push(...decodeExportRequest(body));
        requests++;
      } catch (e) {
        problems.push(`undecodable payload: ${(e as Error).message}`);
        res.writeHead(400).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end(Buffer.from(ResponseType.encode(ResponseType.create({})).finish()));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    get requests() {
      return requests;
    },
    problems,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A receiver for OTLP/gRPC: serves TraceService/Export. */
export async function startGrpcReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const problems: string[] = [];
  let requests = 0;
  const server = new grpc.Server();
  const definition: grpc.ServiceDefinition = {
    Export: {
      path: EXPORT_PATH,
      requestStream: false,
      responseStream: false,
      requestDeserialize: (b: Buffer) => RequestType.decode(b),
      requestSerialize: (m: protobuf.Message) => Buffer.from(RequestType.encode(m).finish()),
      responseSerialize: (m: protobuf.Message) => Buffer.from(ResponseType.encode(m).finish()),
      responseDeserialize: (b: Buffer) => ResponseType.decode(b),
    },
  };
  server.addService(definition, {
    Export: (call: grpc.ServerUnaryCall<protobuf.Message, protobuf.Message>, callback: grpc.sendUnaryData<protobuf.Message>) => {
      try {
        spans.push(...flattenExportRequest(call.request));
        requests++;
        callback(null, ResponseType.create({}));
      } catch (e) {
        problems.push(`unreadable request: ${(e as Error).message}`);
        callback({ code: grpc.status.INVALID_ARGUMENT, details: (e as Error).message });
      }
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    get requests() {
      return requests;
    },
    problems,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
      }),
  };
}
