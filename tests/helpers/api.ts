import sharp from 'sharp';
import { expect } from 'vitest';
import { FINAL_STATUSES, type PostStatus } from '../../domain/pipeline.js';

export interface Json {
  // biome-ignore lint/suspicious/noExplicitAny: test responses are inspected loosely
  [key: string]: any;
}

/** Where to send a request and as whom: a base URL alone is anonymous. */
export type Target = string | { url: string; headers: Record<string, string> };

export async function call(target: Target, path: string, init: RequestInit = {}) {
  const { url, headers } = typeof target === 'string' ? { url: target, headers: {} } : target;
  const res = await fetch(`${url}${path}`, {
    ...init,
    headers: { ...headers, ...(init.headers as Record<string, string>) },
  });
  const text = await res.text();
  let body: Json = {};
  try {
    body = text ? (JSON.parse(text) as Json) : {};
  } catch {
    body = { text };
  }
  return { status: res.status, headers: res.headers, body };
}

export function postJson(
  target: Target,
  path: string,
  payload: unknown,
  headers: Record<string, string> = {},
  method = 'POST',
) {
  return call(target, path, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
}

export function upload(target: Target, bytes: Uint8Array, filename = 'photo.jpg', field = 'file') {
  const form = new FormData();
  // A copy backed by a plain ArrayBuffer, which is what Blob accepts.
  form.append(field, new Blob([Uint8Array.from(bytes)]), filename);
  return call(target, '/api/v1/media', { method: 'POST', body: form });
}

/** A real JPEG carrying EXIF (camera and copyright tags) so tests can prove it is stripped. */
export function photoWithExif(width = 1200, height = 800): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#2a6fb0' } })
    .withExif({ IFD0: { Make: 'TestCam', Copyright: 'exif-marker-123' } })
    .jpeg()
    .toBuffer();
}

export async function uploadPhoto(target: Target, width?: number, height?: number): Promise<string> {
  const res = await upload(target, await photoWithExif(width, height));
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

export function expectProblem(res: { status: number; headers: Headers; body: Json }, status: number, field?: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body.status).toBe(status);
  expect(typeof res.body.title).toBe('string');
  expect(typeof res.body.detail).toBe('string');
  expect(JSON.stringify(res.body)).not.toMatch(/\n\s+at /);
  if (field) expect(res.body.errors?.map((e: { field: string }) => e.field)).toContain(field);
}

export async function waitForPost(
  target: Target,
  id: string,
  until: (post: Json) => boolean,
  timeoutMs = 30_000,
): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  let last: Json = {};
  while (Date.now() < deadline) {
    const res = await call(target, `/api/v1/posts/${id}`);
    last = res.body;
    if (res.status === 200 && until(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`post ${id} did not reach the expected state; last seen: ${JSON.stringify(last)}`);
}

export const isFinished = (post: Json) => FINAL_STATUSES.includes(post.status as PostStatus);

export interface TestUser {
  id: string;
  name: string;
  email: string;
  password: string;
  apiKey: string;
  /** Authenticated by API key. */
  api: { url: string; headers: Record<string, string> };
  /** Authenticated by session cookie, with the CSRF header. */
  browser: { url: string; headers: Record<string, string> };
}

let users = 0;

/** Registers a user through the API and gives them an API key. */
export async function signUp(baseUrl: string, name = `User ${++users}`): Promise<TestUser> {
  const email = `${name.toLowerCase().replaceAll(/[^a-z0-9]+/g, '.')}.${Date.now()}.${users}@example.test`;
  const password = `pw-${Math.random().toString(36).slice(2)}-long-enough`;
  const registered = await fetch(`${baseUrl}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, email, password }),
  });
  expect(registered.status, await registered.clone().text()).toBe(201);
  const { user, csrfToken } = (await registered.json()) as { user: { id: string }; csrfToken: string };
  const cookie = registered.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const browser = { url: baseUrl, headers: { cookie, 'x-csrf-token': csrfToken } };
  const key = await postJson(browser, '/api/v1/me/api-keys', { name: 'tests', password });
  expect(key.status, JSON.stringify(key.body)).toBe(201);
  const apiKey = key.body.key as string;
  return {
    id: user.id,
    name,
    email,
    password,
    apiKey,
    api: { url: baseUrl, headers: { authorization: `Bearer ${apiKey}` } },
    browser,
  };
}
