import { Value } from '@sinclair/typebox/value';
import type { TObject, Static, TSchema } from '@sinclair/typebox';
import { BraidError } from '../errors.js';

/**
 * What a value must look like, in words: from the schema's own `hint`, else from its type
 * and bounds. One wording for braid.yaml's errors and for every component's options.
 */
export function hintOf(schema: TSchema): string | undefined {
  if (typeof schema.hint === 'string') return schema.hint;
  if (schema.type === 'integer') {
    const min = schema.minimum as number | undefined;
    const max = schema.maximum as number | undefined;
    if (min !== undefined && max !== undefined) return `use a whole number from ${min} to ${max}`;
    if (min !== undefined) return `use a whole number of at least ${min}`;
    return 'use a whole number';
  }
  return undefined;
}

/**
 * A component's options: `input` with `schema`'s defaults filled in, checked once against
 * the same schema. Undefined values count as not given. Every problem is reported at once,
 * as `invalid_config` naming `label`, the option and the fix. Values the schema does not
 * describe (a log handle, a logger, callbacks) pass through untouched.
 */
export function resolveOptions<S extends TObject, I extends object>(schema: S, input: I, label: string): Static<S> & I {
  const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  const known = Object.keys(schema.properties);
  const described = Object.fromEntries(Object.entries(given).filter(([k]) => known.includes(k)));
  const withDefaults = Value.Default(schema, structuredClone(described)) as Record<string, unknown>;
  const problems: string[] = [];
  for (const error of Value.Errors(schema, withDefaults)) {
    const key = error.path.slice(1).replace(/\//g, '.');
    if (problems.some((p) => p.startsWith(`${key} `))) continue;
    problems.push(`${key} is ${JSON.stringify(error.value)}; ${hintOf(error.schema) ?? error.message.replace(/^Expected/, 'expected')}`);
  }
  if (problems.length > 0) throw new BraidError('invalid_config', `${label}: ${problems.join('; ')}`, { details: problems });
  return { ...given, ...withDefaults } as Static<S> & I;
}
