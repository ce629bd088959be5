import type { StoredEvent } from '../events/index.js';

/** A path is `id`, `type`, `key` or `data.a.b` (contract §4). */
export const PATH_PATTERN = /^(id|type|key|data(\.[A-Za-z_][A-Za-z0-9_-]*)+)$/;

/** Compiles a path to a reader of the stored event, once per view rather than per event. */
export function pathReader(path: string): (event: StoredEvent) => unknown {
  if (path === 'id') return (e) => e.id;
  if (path === 'type') return (e) => e.type;
  // The record key defaults to the id (contract §2), and so does the dimension.
  if (path === 'key') return (e) => e.key ?? e.id;
  const parts = path.split('.').slice(1);
  return (e) => {
    let node: unknown = e.data;
    for (const part of parts) {
      if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
      node = Object.hasOwn(node, part) ? (node as Record<string, unknown>)[part] : undefined;
    }
    return node;
  };
}

/**
 * A dimension value: the JSON scalar at the path as a string — strings as they are, numbers
 * and booleans as their JSON text — and null when missing or not a scalar.
 */
export function dimensionValue(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  return null;
}
