// Talks to the AutoPostPanel API with the session cookie; state-changing calls echo the CSRF token.

export interface FieldError {
  field: string;
  message: string;
}

/** A refused or failed request, in words a person can act on. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fields: FieldError[] = [],
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;

export function setCsrfToken(token: string | null) {
  csrfToken = token;
}

/**
 * The cookie first: the server ties the token to the session, and a sign-in in another tab (or
 * after the session expired) replaces both cookies while the token kept at page load goes stale.
 */
export function csrf(cookie: string = document.cookie, kept: string | null = csrfToken): string {
  const match = cookie.match(/(?:^|;\s*)app_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]!) : (kept ?? '');
}

/**
 * Resolves true once the person is signed in again as themselves (the refused request may then be
 * sent again), false when not. Set by the app, which asks for the password over the current screen.
 */
type SignInAgain = () => Promise<boolean>;
let signInAgain: SignInAgain | null = null;

export function onSignedOut(handler: SignInAgain | null) {
  signInAgain = handler;
}

// A 401 from these means a wrong password or no session yet, not a session that ended.
const isAuthPath = (path: string) => path.startsWith('/api/v1/auth/');

async function problemOf(res: Response): Promise<ApiError> {
  let title = `The server answered ${res.status}`;
  let fields: FieldError[] = [];
  try {
    const body = (await res.json()) as { title?: string; detail?: string; errors?: FieldError[] };
    title = body.detail || body.title || title;
    fields = Array.isArray(body.errors) ? body.errors : [];
  } catch {
    // Not JSON: the status line is all there is.
  }
  return new ApiError(res.status, title, fields);
}

export interface ApiOptions {
  /** Extra request headers (such as `Idempotency-Key`); they cannot replace the CSRF or JSON ones. */
  headers?: Record<string, string>;
  /** Set on the one repeat after signing in again, so a second 401 is reported, not looped on. */
  repeat?: boolean;
}

export async function api<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  options: ApiOptions = {},
): Promise<T> {
  const headers: Record<string, string> = { ...options.headers, accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = csrf();
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'The server could not be reached. Check your connection and try again.');
  }
  // A 401 was refused before anything was done, so sending it again after signing in is safe.
  if (res.status === 401 && !options.repeat && signInAgain && !isAuthPath(path) && (await signInAgain()))
    return api<T>(method, path, body, { ...options, repeat: true });
  if (!res.ok) throw await problemOf(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** Uploads one file as multipart, reporting progress from 0 to 1. */
export function upload<T>(file: File, onProgress: (fraction: number) => void, repeat = false): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/v1/media');
    xhr.setRequestHeader('x-csrf-token', csrf());
    xhr.setRequestHeader('accept', 'application/json');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(new ApiError(0, 'The upload was interrupted. Try again.'));
    xhr.onload = () => {
      let body: { detail?: string; title?: string; errors?: FieldError[] } = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // keep the empty body
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(body as T);
      } else if (xhr.status === 401 && !repeat && signInAgain) {
        const again = signInAgain;
        void again().then(
          (ok) =>
            ok
              ? resolve(upload<T>(file, onProgress, true))
              : reject(new ApiError(401, body.detail || body.title || 'Not signed in')),
          reject,
        );
      } else {
        reject(new ApiError(xhr.status, body.detail || body.title || `Upload refused (${xhr.status})`, body.errors));
      }
    };
    const form = new FormData();
    form.append('file', file);
    xhr.send(form);
  });
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    const fields = err.fields.map((f) => `${f.field}: ${f.message}`).join('; ');
    return fields && !err.message.includes(fields) ? `${err.message} (${fields})` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
