/**
 * Reading a posted form. `request.formData()` throws on a body of another type or a malformed one,
 * which Remix answers with a 500: every action reads its form here instead, and gets a 4xx.
 * (web/request-guards.ts has bounded the body's size before it gets here.)
 */
import { data } from '@remix-run/node';

const FORM_TYPE = /^\s*(application\/x-www-form-urlencoded|multipart\/form-data)\s*(;|$)/i;

export async function readForm(request: Request): Promise<FormData> {
  if (!FORM_TYPE.test(request.headers.get('Content-Type') ?? '')) {
    throw data('Send the form as application/x-www-form-urlencoded or multipart/form-data.', { status: 415 });
  }
  try {
    return await request.formData();
  } catch {
    throw data('The form could not be read: its body is malformed.', { status: 400 });
  }
}
