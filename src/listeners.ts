import { getEventListeners, type EventEmitter } from 'node:events';

/**
 * Listener counts of a process's long-lived signals and emitters. A loop that adds a listener per
 * iteration and never removes it shows up here as a count that grows with time; the soak benchmark
 * (bench/soak.ts) and its short version in the tests print and check these.
 */
export type ListenerCounts = Record<string, number>;

/** Every listener of an emitter, over all its event names. */
export function emitterListeners(emitter: EventEmitter): number {
  return emitter.eventNames().reduce((sum, name) => sum + emitter.listenerCount(name), 0);
}

/** The abort listeners of a signal. */
export function abortListeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}
