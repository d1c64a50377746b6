import type { ChildTask } from '../protocol.js';
import type { WidgetOps } from '../widgets.js';

/** A cache of one namespace's ConfigMaps: listed (and watched, when asked). */
export interface Cache {
  size(): number;
  stop(): Promise<void>;
}

export interface CacheOptions {
  /** Keep the cache up to date with a watch after the list. */
  watch: boolean;
  /** Called for each watch event that changed an object (after the list). */
  onChange?: (obj: any) => void;
}

export type Kind = 'configmaps' | 'widgets';

/** A controller of one namespace's objects that calls `reconcile` for each object that needs it. */
export interface RunningController {
  stop(): Promise<void>;
}

/** One contender with its client built (config read, connection pool made) and nothing sent yet. */
export interface Contender {
  cache?(namespace: string, options: CacheOptions): Promise<Cache>;
  /** Starts a controller and resolves once its cache is ready (reconciles may already run). */
  controller?(namespace: string, kind: Kind, reconcile: (obj: any) => Promise<void>): Promise<RunningController>;
  widgetOps?(namespace: string): WidgetOps;
  close(): Promise<void>;
}

/** Builds the contender's client; what the scenarios time starts after this. */
export type Setup = (task: ChildTask) => Contender;
