import sharp from 'sharp';
import { expect } from 'vitest';

export interface Json {
  // biome-ignore lint/suspicious/noExplicitAny: test responses are inspected loosely
  [key: string]: any;
}

export async function call(baseUrl: string, path: string, init: RequestInit = {}) {
  const res = await fetch(`${baseUrl}${path}`, init);
  const text = await res.text();
  let body: Json = {};
  try {
    body = text ? (JSON.parse(text) as Json) : {};
  } catch {
    body = { text };
  }
  return { status: res.status, headers: res.headers, body };
}

export function postJson(baseUrl: string, path: string, payload: unknown, headers: Record<string, string> = {}) {
  return call(baseUrl, path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
}

export function upload(baseUrl: string, bytes: Uint8Array, filename = 'photo.jpg', field = 'file') {
  const form = new FormData();
  form.append(field, new Blob([bytes]), filename);
  return call(baseUrl, '/api/v1/media', { method: 'POST', body: form });
}

/** A real JPEG carrying EXIF (camera and copyright tags) so tests can prove it is stripped. */
export function photoWithExif(width = 1200, height = 800): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#2a6fb0' } })
    .withExif({ IFD0: { Make: 'TestCam', Copyright: 'exif-marker-123' } })
    .jpeg()
    .toBuffer();
}

export async function uploadPhoto(baseUrl: string, width?: number, height?: number): Promise<string> {
  const res = await upload(baseUrl, await photoWithExif(width, height));
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
  baseUrl: string,
  id: string,
  until: (post: Json) => boolean,
  timeoutMs = 30_000,
): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  let last: Json = {};
  while (Date.now() < deadline) {
    const res = await call(baseUrl, `/api/v1/posts/${id}`);
    last = res.body;
    if (res.status === 200 && until(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`post ${id} did not reach the expected state; last seen: ${JSON.stringify(last)}`);
}

export const isFinished = (post: Json) =>
  ['published', 'partially_published', 'failed', 'cancelled'].includes(post.status as string);
