/**
 * What every configuration module builds on: the environment as a plain object, the error a bad
 * setting throws, and the zod pieces each process's schema is made of.
 */
import { z } from 'zod';

export type Env = Record<string, string | undefined>;

/** A bad setting: the message is one line that names it. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A blank value means unset, for every setting. */
export const blankToUndefined = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);
export const optionalString = z.preprocess(blankToUndefined, z.string().optional());
export const integer = (fallback: number, min: number, max: number) =>
  z.preprocess(blankToUndefined, z.coerce.number().int().min(min).max(max).default(fallback));

function firstIssue(error: z.ZodError, env: Env): string {
  const issue = error.issues[0];
  const name = String(issue.path[0] ?? 'configuration');
  const got = env[name];
  const shown = got === undefined ? '' : ` (got ${JSON.stringify(/_(KEYS?|SECRET)$/.test(name) ? '***' : got)})`;
  // zod quotes a bad enum value raw: keep the message on one line even if the value has newlines.
  return `Invalid configuration: ${name}: ${issue.message.replace(/\s*\n\s*/g, ' ')}${shown}`;
}

/**
 * The schema's own variables, checked and converted; zod drops every other variable, so a process
 * never reads (or trips over) another's settings. A bad one throws ConfigError naming it.
 */
export function parseEnv<T extends z.ZodRawShape>(schema: z.ZodObject<T>, env: Env): z.infer<z.ZodObject<T>> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) throw new ConfigError(firstIssue(parsed.error, env));
  return parsed.data;
}
