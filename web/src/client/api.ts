// The REST client for the server the app was loaded from (same origin: no
// CORS, no foreign host). Every error is an ApiError with the server's
// stable code; a network failure is `unreachable`.

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly retryAfter: number | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** Whether this session is over (expired, revoked, disabled). */
  get sessionEnded(): boolean {
    return ["authentication_failed", "device_revoked", "not_authenticated", "consent_withdrawn"].includes(
      this.code,
    );
  }
}

/** Where requests go, and how a token is found and renewed. */
export interface TokenSource {
  /** A valid access token (refreshed if needed), or null when logged out. */
  token(): Promise<string | null>;
  /** The token was refused as expired: get a new one (once). */
  renew(refused: string): Promise<string | null>;
}

export class Api {
  constructor(
    private readonly tokens: TokenSource | null = null,
    private readonly base = "",
  ) {}

  withTokens(tokens: TokenSource): Api {
    return new Api(tokens, this.base);
  }

  async get<T>(path: string): Promise<T> {
    return this.call<T>("GET", path);
  }

  async post<T>(path: string, body: unknown, headers: Record<string, string> = {}): Promise<T> {
    return this.call<T>("POST", path, body, headers);
  }

  async put<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>("PUT", path, body);
  }

  async delete<T>(path: string): Promise<T> {
    return this.call<T>("DELETE", path);
  }

  /** Raw bytes up (an encrypted attachment), with progress. */
  async upload<T>(path: string, bytes: Uint8Array, progress?: (done: number, total: number) => void): Promise<T> {
    if (typeof XMLHttpRequest === "undefined") return this.uploadByFetch<T>(path, bytes, progress);
    const token = await this.tokens?.token();
    // XMLHttpRequest reports upload progress; fetch does not (yet).
    return new Promise<T>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", this.base + path);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
      xhr.upload.onprogress = (e) => progress?.(e.loaded, e.total);
      xhr.onerror = () => reject(new ApiError("unreachable", "the server cannot be reached", 0));
      xhr.onload = () => {
        const parsed = parseBody(xhr.responseText);
        if (xhr.status >= 200 && xhr.status < 300) resolve(parsed as T);
        else reject(errorFrom(xhr.status, parsed, null));
      };
      xhr.send(bytes as unknown as XMLHttpRequestBodyInit);
    });
  }

  /** Without XMLHttpRequest (Node, a worker): one fetch, progress at the
   *  start and the end only. */
  private async uploadByFetch<T>(
    path: string,
    bytes: Uint8Array,
    progress?: (done: number, total: number) => void,
  ): Promise<T> {
    progress?.(0, bytes.length);
    const response = await this.send("POST", path, bytes);
    progress?.(bytes.length, bytes.length);
    return (await response.json()) as T;
  }

  /** Raw bytes down (an encrypted attachment), streamed, with progress. */
  async download(path: string, progress?: (done: number, total: number | null) => void): Promise<Uint8Array> {
    const response = await this.send("GET", path);
    const total = Number(response.headers.get("Content-Length")) || null;
    const reader = response.body?.getReader();
    if (!reader) return new Uint8Array(await response.arrayBuffer());
    const chunks: Uint8Array[] = [];
    let done = 0;
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      chunks.push(value);
      done += value.byteLength;
      progress?.(done, total);
    }
    const out = new Uint8Array(done);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }

  private async call<T>(method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<T> {
    const response = await this.send(method, path, body, extra);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  private async send(method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<Response> {
    let token = (await this.tokens?.token()) ?? null;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...extra };
      const raw = body instanceof Uint8Array;
      if (body !== undefined) headers["Content-Type"] = raw ? "application/octet-stream" : "application/json";
      if (token !== null) headers.Authorization = `Bearer ${token}`;
      let response: Response;
      try {
        response = await fetch(this.base + path, {
          method,
          headers,
          body: body === undefined ? undefined : raw ? (body as Uint8Array<ArrayBuffer>) : JSON.stringify(body),
          credentials: "same-origin",
          cache: "no-store",
        });
      } catch {
        throw new ApiError("unreachable", "the server cannot be reached", 0);
      }
      if (response.ok) return response;
      const parsed = parseBody(await response.text());
      const error = errorFrom(response.status, parsed, response.headers.get("Retry-After"));
      if (error.code === "token_expired" && attempt === 0 && token !== null && this.tokens) {
        token = await this.tokens.renew(token);
        if (token !== null) continue;
      }
      throw error;
    }
  }
}

function parseBody(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function errorFrom(status: number, body: unknown, retryAfter: string | null): ApiError {
  const b = (typeof body === "object" && body !== null ? body : {}) as { code?: unknown; message?: unknown };
  return new ApiError(
    typeof b.code === "string" ? b.code : "internal",
    typeof b.message === "string" ? b.message : `the server answered ${status}`,
    status,
    retryAfter !== null ? Number(retryAfter) : null,
  );
}
