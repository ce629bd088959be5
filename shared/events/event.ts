/** An event as braid stores it in the log: validated, with `time` in epoch ms. */
export interface StoredEvent {
  readonly id: string;
  readonly type: string;
  /** event time, epoch ms */
  readonly time: number;
  readonly key?: string;
  readonly data?: Record<string, unknown>;
}

/** The log's record key: every retry of an event and every event of one entity share it. */
export function recordKey(event: StoredEvent): string {
  return event.key ?? event.id;
}

export function encodeEvent(event: StoredEvent): Buffer {
  return Buffer.from(JSON.stringify(event), 'utf8');
}

export function decodeEvent(bytes: Buffer): StoredEvent {
  return JSON.parse(bytes.toString('utf8')) as StoredEvent;
}
