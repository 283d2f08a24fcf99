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

function csrf(): string {
  if (csrfToken) return csrfToken;
  const match = document.cookie.match(/(?:^|;\s*)app_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]!) : '';
}

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
  if (!res.ok) throw await problemOf(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** Uploads one file as multipart, reporting progress from 0 to 1. */
export function upload<T>(file: File, onProgress: (fraction: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
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
