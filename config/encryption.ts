/**
 * Payload encryption settings, which both processes read: the worker encrypts what it sends to
 * Temporal, the web app (its client and the codec endpoint) decrypts and encrypts too, so both
 * must hold the same keys.
 *
 * Kept apart, like the access control settings (auth.ts), so that no message here can quote a key:
 * every message names the setting, and an entry by its position and key id.
 */
import type { EncryptionKeys } from '../codec';
import { ConfigError, optionalString } from './env';

/** The variables, for a process's schema. */
export const ENCRYPTION_ENV = {
  /** Payload encryption: `keyId:base64key,...` (32-byte keys); unset, payloads are not encrypted. */
  BUILDSTORY_ENCRYPTION_KEYS: optionalString,
  /** The key that encrypts new payloads; the first listed by default. */
  BUILDSTORY_ENCRYPTION_KEY_ID: optionalString,
};

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * BUILDSTORY_ENCRYPTION_KEYS (`keyId:base64key,...`) and BUILDSTORY_ENCRYPTION_KEY_ID, blank already
 * made unset; null: payloads are not encrypted.
 */
export function parseEncryption(keysSetting: string | undefined, keyIdSetting: string | undefined): EncryptionKeys | null {
  const bad = (reason: string) => new ConfigError(`Invalid configuration: BUILDSTORY_ENCRYPTION_KEYS: ${reason}`);
  if (keysSetting === undefined) {
    if (keyIdSetting !== undefined) {
      throw new ConfigError('Invalid configuration: BUILDSTORY_ENCRYPTION_KEY_ID is set but BUILDSTORY_ENCRYPTION_KEYS is not');
    }
    return null;
  }
  const keys = new Map<string, Buffer>();
  const entries = keysSetting.split(',').map((entry) => entry.trim());
  entries.forEach((entry, index) => {
    const position = `entry ${index + 1}`;
    if (entry === '') throw bad(`${position} is empty (expected keyId:base64key, comma-separated)`);
    const colon = entry.indexOf(':');
    if (colon < 0) throw bad(`${position} must be keyId:base64key`);
    const id = entry.slice(0, colon).trim();
    const encoded = entry.slice(colon + 1).trim();
    if (!KEY_ID.test(id)) throw bad(`${position}: the key id must be 1-64 letters, digits, '.', '_' or '-'`);
    if (keys.has(id)) throw bad(`key id "${id}" is listed twice`);
    const key = BASE64.test(encoded) ? Buffer.from(encoded, 'base64') : null;
    if (!key || key.length !== 32) {
      throw bad(`the key of "${id}" must be 32 bytes in base64 (openssl rand -base64 32)${key ? `, not ${key.length} bytes` : ''}`);
    }
    keys.set(id, key);
  });
  const currentKeyId = keyIdSetting ?? entries[0].slice(0, entries[0].indexOf(':')).trim();
  if (!keys.has(currentKeyId)) {
    throw new ConfigError(
      `Invalid configuration: BUILDSTORY_ENCRYPTION_KEY_ID: no key with id ${JSON.stringify(currentKeyId)} in BUILDSTORY_ENCRYPTION_KEYS`,
    );
  }
  return { keys, currentKeyId };
}
