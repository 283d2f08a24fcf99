/** Just enough of the public API for the benchmarks: an account with an API key, uploads, posts. */
export interface BenchUser {
  baseUrl: string;
  headers: Record<string, string>;
}

export async function signUpBenchUser(baseUrl: string): Promise<BenchUser> {
  const password = 'bench password long enough';
  const reg = await fetch(`${baseUrl}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Bench', email: `bench.${Date.now()}@example.test`, password }),
  });
  if (reg.status !== 201) throw new Error(`register: ${reg.status} ${await reg.text()}`);
  const { csrfToken } = (await reg.json()) as { csrfToken: string };
  const cookie = reg.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const keyRes = await fetch(`${baseUrl}/api/v1/me/api-keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrfToken },
    body: JSON.stringify({ name: 'bench', password }),
  });
  if (keyRes.status !== 201) throw new Error(`api key: ${keyRes.status} ${await keyRes.text()}`);
  const { key } = (await keyRes.json()) as { key: string };
  return { baseUrl, headers: { authorization: `Bearer ${key}` } };
}

export async function uploadImage(user: BenchUser, bytes: Buffer): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(bytes)]), 'photo.jpg');
  const res = await fetch(`${user.baseUrl}/api/v1/media`, { method: 'POST', headers: user.headers, body: form });
  if (res.status !== 201) throw new Error(`upload: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

export interface CreatedPost {
  id: string;
  workflowId: string;
}

export async function createPost(user: BenchUser, body: unknown): Promise<CreatedPost> {
  const res = await fetch(`${user.baseUrl}/api/v1/posts`, {
    method: 'POST',
    headers: { ...user.headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`create post: ${res.status} ${text}`);
  const post = JSON.parse(text) as { id: string; workflow: { id: string } };
  return { id: post.id, workflowId: post.workflow.id };
}

export async function getPost(user: BenchUser, id: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${user.baseUrl}/api/v1/posts/${id}`, { headers: user.headers });
  if (res.status !== 200) throw new Error(`get post: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

/**
 * Four local-export targets, one per platform. The scenario named YouTube as the first; YouTube
 * refuses a post without a video since the media rules (issue 10), so an image post's fourth
 * target is the generic export (largest box: the picture is re-encoded at its own size).
 */
export const FOUR_PLATFORMS = ['generic', 'tiktok', 'instagram', 'facebook'].map((platform) => ({
  type: 'local_export',
  key: platform,
  platform,
}));
