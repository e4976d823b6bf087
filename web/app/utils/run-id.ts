/**
 * Run ids. A run's workflow id comes from the token of the form that started it, so a double
 * submit or a resubmit never starts a second run. With access control on the id comes from the
 * token and the user together: another user's token names another run, so posting it neither
 * reaches their run nor tells whether it exists.
 */
import { createHash } from 'node:crypto';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A reset (here or in the Temporal UI) keeps the workflow id, so retried runs still match. */
export const RUN_ID_PATTERN = /^task-[0-9a-f-]{36}$/;

/** A UUID-shaped, deterministic id for `text` (SHA-256 based, version and variant bits set). */
export function uuidFrom(text: string): string {
  const hex = createHash('sha256').update(text).digest('hex');
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The workflow id of the run a form token starts for `owner` (null: access control off). */
export function workflowIdFor(token: string, owner: string | null): string {
  if (!UUID.test(token)) throw new TypeError('The run token must be a lowercase UUID.');
  return owner === null ? `task-${token}` : `task-${uuidFrom(`run\0${owner}\0${token}`)}`;
}
