/**
 * The CLI's client of Buildstory's JSON API (/api/v1): the base URL and the token (BUILDSTORY_URL,
 * BUILDSTORY_TOKEN, or --url / --token), JSON in and out, and the API's errors (RFC 9457 problem
 * documents) as ApiError with their title and detail. The token goes in the Authorization header
 * only: never in a URL, never printed.
 */

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string | null,
    readonly problem: Record<string, unknown> | null,
  ) {
    super(detail ? `${title}: ${detail}` : title);
  }
}

/** The server could not be reached at all. */
export class UnreachableError extends Error {
  override name = 'UnreachableError';
}

export interface ApiOptions {
  url: string;
  token?: string | null;
  /** Sent as User-Agent. */
  version?: string;
}

async function problemOf(res: Response): Promise<ApiError> {
  const type = res.headers.get('Content-Type') ?? '';
  const text = await res.text().catch(() => '');
  if (/json/.test(type)) {
    try {
      const problem = JSON.parse(text) as Record<string, unknown>;
      const title = typeof problem.title === 'string' ? problem.title : `HTTP ${res.status}`;
      const detail = typeof problem.detail === 'string' ? problem.detail : null;
      return new ApiError(res.status, title, detail, problem);
    } catch {
      // not JSON after all
    }
  }
  const line = text.trim().split('\n')[0]?.slice(0, 300) || res.statusText;
  return new ApiError(res.status, `HTTP ${res.status}`, line || null, null);
}

export class Api {
  readonly base: string;

  constructor(private readonly options: ApiOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new Error(`Not a URL: ${options.url} (give --url or BUILDSTORY_URL, e.g. http://localhost:3000)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`The URL must be http or https: ${options.url}`);
    this.base = `${url.origin}${url.pathname.replace(/\/+$/, '')}/api/v1`;
  }

  private headers(extra: Record<string, string> = {}): Headers {
    const headers = new Headers(extra);
    headers.set('Accept', headers.get('Accept') ?? 'application/json');
    headers.set('User-Agent', `buildstory-cli/${this.options.version ?? '0'}`);
    if (this.options.token) headers.set('Authorization', `Bearer ${this.options.token}`);
    return headers;
  }

  private async send(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.base}${path}`, { ...init, redirect: 'manual' });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new UnreachableError(`Cannot reach Buildstory at ${this.base}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
  }

  async request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const init: RequestInit = {
      method,
      headers: this.headers(body === undefined ? headers : { 'Content-Type': 'application/json', ...headers }),
    };
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await this.send(path, init);
    if (!res.ok) throw await problemOf(res);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  /** A file's bytes (GET, any content type). */
  async bytes(path: string): Promise<Buffer> {
    const res = await this.send(path, { headers: this.headers({ Accept: '*/*' }) });
    if (!res.ok) throw await problemOf(res);
    return Buffer.from(await res.arrayBuffer());
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    return this.request<T>('POST', path, body ?? {}, headers);
  }

  /** An event stream (200, or 204 when there is nothing more); other answers as ApiError. */
  async stream(path: string, lastEventId: string | null, signal?: AbortSignal): Promise<Response> {
    const headers = this.headers({ Accept: 'text/event-stream', ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}) });
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { headers, signal, redirect: 'manual' });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new UnreachableError(`Cannot reach Buildstory at ${this.base}: ${(err as Error).message}`);
    }
    if (res.status === 200 || res.status === 204) return res;
    throw await problemOf(res);
  }
}
