// core
export { ObjectRef } from './core/object-ref.js';
export { defineResource, apiVersionOf, resourcePath, type KubeObject, type Resource } from './core/resource.js';
export * from './core/builtin.js';
export { ApiError, ConfigError, ExecCredentialError, KubeloopError, TransportError, WatchDecodeError, isApiError, type Status } from './core/errors.js';
// schema-first custom resources
export {
  defineCustomResource, defineCustomResourceOf, isCustomResource, CustomResource,
  type CustomResourceDefinitionInput, type VersionDefinition, type VersionObject, type ObjectOf,
} from './schema/custom-resource.js';
export { SchemaValidator, type ValidationResult } from './schema/validator.js';
export { StructuralSchemaError, SchemaValidationError, type SchemaIssue } from './schema/errors.js';
export { toStructural, type ConversionNotes } from './schema/structural.js';
export { crdYaml } from './schema/crd-yaml.js';
export { typesFromCrd, definitionOf, type TypesOptions } from './schema/types-from-crd.js';
export type { FromSchema } from './schema/infer.js';
export type { InferSchema, SchemaInput, StandardSchemaLike } from './schema/standard.js';
export type { JsonSchema, StructuralSchema, ValidationRule } from './schema/json-schema.js';
// client
export { Client, type ClientOptions } from './client/client.js';
export { inferConfig, inClusterConfig, type AuthConfig, type ConnectionConfig, type ExecConfig } from './client/config.js';
export { loadKubeconfig, kubeconfigPaths } from './client/kubeconfig.js';
export { Api, type CallOptions, type DeleteParams, type ListParams, type ObjectList, type PartialObjectMetadata, type PatchParams, type WatchParams, type WriteParams } from './client/api.js';
export { Patch, type JsonPatchOp } from './client/patch.js';
export type { WatchEvent, WatchEventStream } from './client/watch-stream.js';
export type { HttpMethod, KubeRequest, KubeResponse, Layer, Service } from './client/request.js';
export type { RetryOptions } from './client/layers.js';
// telemetry
export { logger, configureLogging, setLogFilter, logFilter, Logger, type LoggingOptions, type LogFormat } from './telemetry/log.js';
export { parseLogFilter, LogFilterError, type Level, type LogFilter } from './telemetry/filter.js';
export { withSpan, instrument, currentSpan, currentSignal, ActiveSpan, type Fields, type FieldValue, type SpanOptions } from './telemetry/span.js';
export { TRACEPARENT_ANNOTATION, setObjectTraceStamping } from './telemetry/object-trace.js';
export { enableControllerRuntimeMetrics } from './telemetry/controller-runtime-metrics.js';
export type * from './telemetry/diagnostics.js';
export { metricsRegistry, renderMetrics } from './telemetry/metrics.js';
// runtime
export { watcher, metadataWatcher, watcherBatches, metadataWatcherBatches, type WatcherConfig, type WatcherEvent } from './runtime/watcher.js';
export { Store, reflector, StoreWriterStoppedError, UnknownIndexError, type IndexFn, type ReflectedEvent, type RelistChanges } from './runtime/store.js';
export { SharedCache, CacheEndedError, type CacheOptions } from './runtime/shared-cache.js';
export { CacheSet } from './runtime/cache-set.js';
export { ShardRing, type ShardRingOptions } from './runtime/sharding/ring.js';
export { RING_LABEL, shardLabel, drainLabel } from './runtime/sharding/labels.js';
export { stripManagedFields } from './runtime/transforms.js';
export { Scheduler, type ScheduleRequest, type ScheduledEntry, type SchedulerOptions } from './runtime/scheduler.js';
export { ExponentialBackoff, ResetTimerBackoff, defaultWatcherBackoff, type Backoff, type ExponentialBackoffOptions } from './runtime/backoff.js';
export { Action } from './runtime/action.js';
export {
  Controller, ReconcileReason, type ControllerConfig, type MainWatcherConfig, type Reconciler, type ReconcileInfo, type ReconcileResult, type ReadinessCheck, type LivenessCheck,
  type LeaderElectionConfig,
} from './runtime/controller.js';
export {
  LeaderElector, LeaderElectionConfigError, LeadershipLostError, resolveLeaderElectorOptions,
  type LeaderElectorEvents, type LeaderElectorOptions, type LeadershipLossReason, type ResolvedLeaderElectorOptions,
} from './runtime/leader-election.js';
export { ControllerError, ReconcilerFailedError, ReconcileTimeoutError, ObjectNotFoundError, QueueError, TriggerError, DuplicateControllerError } from './runtime/errors.js';
export type { Trigger } from './runtime/triggers.js';
export { backoffErrorPolicy, type ErrorPolicy, type BackoffPolicyOptions } from './runtime/error-policy.js';
export { finalizer, type FinalizerHandlers } from './runtime/finalizer.js';
export { Recorder, objectReference, type EventSpec, type Reporter } from './runtime/recorder.js';
export { predicates, predicateFilter, PredicateState, type Predicate } from './runtime/predicates.js';
export { ProbeServer, type DebugPageConfig, type HealthSource, type ProbeServerOptions } from './telemetry/probe-server.js';
// webhooks
export * from './webhook/index.js';
