/**
 * A signed-in browser over plain HTTP, for tests with access control on: one session cookie
 * (kept from every answer, the pre-sign-in one too), pages read as text without React's comment
 * markers, form posts that do not follow redirects, and a form's hidden fields.
 */
export class Session {
  private cookie = '';

  constructor(private readonly base: string) {}

  private keep(res: Response): Response {
    const set = res.headers.getSetCookie().find((c) => c.startsWith('buildstory_session='));
    if (set) this.cookie = set.split(';')[0]!;
    return res;
  }

  async text(path: string): Promise<string> {
    const res = this.keep(await fetch(`${this.base}${path}`, { headers: { Cookie: this.cookie } }));
    return (await res.text()).replace(/<!-- -->/g, '');
  }

  async post(path: string, fields: Record<string, string>): Promise<Response> {
    return this.keep(
      await fetch(`${this.base}${path}`, {
        method: 'POST',
        body: new URLSearchParams(fields),
        headers: { Cookie: this.cookie },
        redirect: 'manual',
      }),
    );
  }

  /** Sign in through the form; the answer (a 302 when it worked). */
  async signIn(user: string, password: string): Promise<Response> {
    return this.post('/login', { csrf: field(await this.text('/login'), 'csrf'), user, password });
  }

  /** Submit the home form with a task, as the user would; the answer as it is. */
  async submit(task: string): Promise<Response> {
    const home = await this.text('/');
    return this.post('/?index', { task, token: field(home, 'token'), csrf: field(home, 'csrf') });
  }
}

/** A hidden field's value in a page. */
export function field(html: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]+)"`).exec(html);
  if (!match) throw new Error(`no ${name} field`);
  return match[1]!;
}
