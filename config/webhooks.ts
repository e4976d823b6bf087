/**
 * The deployment's webhook (docs/webhooks.md): BUILDSTORY_WEBHOOK_URL, told when a run waits for a
 * person and when it ends, and BUILDSTORY_WEBHOOK_SECRET, which signs each delivery (Standard
 * Webhooks). The worker reads both and delivers; the web app reads only whether the URL is set, to
 * start runs that notify (TaskInput.notify). Neither ever reaches a workflow's history.
 *
 * Kept apart like shared-store.ts: the URL may carry a token and the secret is one, so no message
 * here quotes either value; `display` is the URL's scheme and host, for logs.
 */
import { ConfigError } from './env';

export interface WebhookConfig {
  /** As given, for the delivery only: it may carry a token. */
  url: string;
  /** `whsec_` and base64: what the standardwebhooks library signs with. */
  secret: string;
  /** For logs: scheme and host. */
  display: string;
}

const SECRET_HINT = 'whsec_ followed by 24 to 64 random bytes in base64, e.g. whsec_$(openssl rand -base64 32)';

function fail(name: string, problem: string): never {
  throw new ConfigError(`Invalid configuration: ${name}: ${problem}`);
}

/** BUILDSTORY_WEBHOOK_URL: an http(s) URL with a host, or null when unset or blank. */
export function parseWebhookUrl(raw: string | undefined): { url: string; display: string } | null {
  const url = raw?.trim() ?? '';
  if (url === '') return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return fail('BUILDSTORY_WEBHOOK_URL', 'is not a URL (e.g. https://hooks.example.com/buildstory)');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') fail('BUILDSTORY_WEBHOOK_URL', 'must be an http:// or https:// URL');
  if (parsed.hostname === '') fail('BUILDSTORY_WEBHOOK_URL', 'has no host');
  return { url, display: `${parsed.protocol}//${parsed.host}` };
}

/** BUILDSTORY_WEBHOOK_SECRET: `whsec_` and the base64 of 24 to 64 bytes (the Standard Webhooks form). */
function parseWebhookSecret(raw: string | undefined): string | null {
  const secret = raw?.trim() ?? '';
  if (secret === '') return null;
  const base64 = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : null;
  if (base64 === null) fail('BUILDSTORY_WEBHOOK_SECRET', `must start with whsec_ (${SECRET_HINT})`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0)
    fail('BUILDSTORY_WEBHOOK_SECRET', `is not base64 after whsec_ (${SECRET_HINT})`);
  const bytes = Buffer.from(base64, 'base64').length;
  if (bytes < 24 || bytes > 64) fail('BUILDSTORY_WEBHOOK_SECRET', `must encode 24 to 64 bytes, not ${bytes} (${SECRET_HINT})`);
  return secret;
}

/** The worker's webhook: both settings or neither; null when neither is set. */
export function loadWebhookConfig(env: { BUILDSTORY_WEBHOOK_URL?: string; BUILDSTORY_WEBHOOK_SECRET?: string }): WebhookConfig | null {
  const target = parseWebhookUrl(env.BUILDSTORY_WEBHOOK_URL);
  const secret = parseWebhookSecret(env.BUILDSTORY_WEBHOOK_SECRET);
  if (target && !secret)
    fail('BUILDSTORY_WEBHOOK_SECRET', `required with BUILDSTORY_WEBHOOK_URL: deliveries are always signed (${SECRET_HINT})`);
  if (secret && !target) fail('BUILDSTORY_WEBHOOK_URL', 'required with BUILDSTORY_WEBHOOK_SECRET (where to deliver)');
  return target && secret ? { ...target, secret } : null;
}
