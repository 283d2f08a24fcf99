import { readdir, readlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, media, posts, users } from '../db/schema.js';
import { STORABLE_TEXT_RULE } from '../domain/text.js';
import {
  call,
  expectProblem,
  type Json,
  photoWithExif,
  postJson,
  signUp,
  type TestUser,
  upload,
  waitForPost,
} from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

let app: TestApp;
let user: TestUser;

beforeAll(async () => {
  // Counts the files held open under the data dir, where PGlite keeps its own: PostgreSQL, also under TEST_DATABASE.
  app = await startTestApp({ database: 'postgres' });
  user = await signUp(app.baseUrl);
});
afterAll(async () => {
  await app?.stop();
});

const NUL = 'a\u0000b';
const LONE_HIGH = 'a\ud800b';
const LONE_LOW = '\udc00 at the start';
const UNSTORABLE = [
  ['a NUL character', NUL],
  ['a lone high surrogate', LONE_HIGH],
  ['a lone low surrogate', LONE_LOW],
] as const;

/** Sends one raw HTTP/1.1 request and returns what came back before the server closed. */
function rawRequest(port: number, bytes: Buffer | string, { endAfterMs }: { endAfterMs?: number } = {}) {
  return new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.write(bytes);
    if (endAfterMs !== undefined) setTimeout(() => socket.destroy(), endAfterMs);
  });
}

const port = () => Number(new URL(app.baseUrl).port);
const statusOf = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);

describe('text PostgreSQL cannot store', () => {
  const countRows = async () => ({
    users: (await app.db.select({ n: count() }).from(users))[0]!.n,
    posts: (await app.db.select({ n: count() }).from(posts))[0]!.n,
    keys: (await app.db.select({ n: count() }).from(apiKeys))[0]!.n,
    media: (await app.db.select({ n: count() }).from(media))[0]!.n,
  });

  it.each(UNSTORABLE)('is refused with 422 naming the field and the rule in every JSON body (%s)', async (_, bad) => {
    const before = await countRows();
    const cases: [string, Promise<Awaited<ReturnType<typeof call>>>, string][] = [
      [
        'register name',
        postJson(app.baseUrl, '/api/v1/auth/register', {
          name: bad,
          email: `x${Date.now()}@example.test`,
          password: 'long enough password',
        }),
        'name',
      ],
      [
        'register password',
        postJson(app.baseUrl, '/api/v1/auth/register', {
          name: 'ok',
          email: `y${Date.now()}@example.test`,
          password: `long enough ${bad}`,
        }),
        'password',
      ],
      [
        'sign-in password',
        postJson(app.baseUrl, '/api/v1/auth/sign-in', { email: user.email, password: bad }),
        'password',
      ],
      ['profile name', postJson(user.api, '/api/v1/me', { name: bad }, {}, 'PATCH'), 'name'],
      [
        'API key name',
        postJson(user.api, '/api/v1/me/api-keys', { name: `key ${bad}`, password: user.password }),
        'name',
      ],
      [
        'new password',
        postJson(
          user.api,
          '/api/v1/me/password',
          { currentPassword: user.password, newPassword: `long enough ${bad}` },
          {},
          'PUT',
        ),
        'newPassword',
      ],
      [
        'caption',
        postJson(user.api, '/api/v1/posts', { caption: `Hello ${bad}`, targets: [{ type: 'local_export' }] }),
        'caption',
      ],
      [
        'brief topic',
        postJson(user.api, '/api/v1/posts', { brief: { topic: bad }, targets: [{ type: 'local_export' }] }),
        'brief.topic',
      ],
      [
        'an object key',
        postJson(user.api, '/api/v1/posts', { caption: 'fine', targets: [{ type: 'local_export' }], [bad]: 1 }),
        bad,
      ],
    ];
    for (const [what, pending, field] of cases) {
      const res = await pending;
      expectProblem(res, 422, field);
      const error = res.body.errors.find((e: Json) => e.field === field);
      expect(error.message, what).toBe(STORABLE_TEXT_RULE);
    }
    expect(await countRows()).toEqual(before);
    // The user's own record is untouched and they can still sign in.
    const [row] = await app.db.select().from(users).where(eq(users.id, user.id));
    expect(row!.name).toBe(user.name);
    expect(
      (await postJson(app.baseUrl, '/api/v1/auth/sign-in', { email: user.email, password: user.password })).status,
    ).toBe(200);
  });

  it('is refused in review feedback and draft edits before anything reaches the workflow', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      brief: { topic: 'Storable text only' },
      targets: [{ type: 'local_export', key: 'fb', platform: 'facebook' }],
      review: { mode: 'manual' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const waiting = await waitForPost(user.api, id, (p) => p.status === 'awaiting_review');
    const draftBefore = JSON.stringify(waiting.drafts ?? waiting.targets);
    for (const [, bad] of UNSTORABLE) {
      const started = Date.now();
      expectProblem(
        await postJson(user.api, `/api/v1/posts/${id}/review/reject`, { feedback: `Shorter ${bad}` }),
        422,
        'feedback',
      );
      expectProblem(
        await postJson(user.api, `/api/v1/posts/${id}/drafts/fb`, { draft: { text: `Edited ${bad}` } }, {}, 'PUT'),
        422,
        'draft.text',
      );
      expectProblem(
        await postJson(user.api, `/api/v1/posts/${id}/review/approve`, { edits: { fb: { text: bad } } }),
        422,
        'edits.fb.text',
      );
      // Refused at the door: no activity retried, no request held up.
      expect(Date.now() - started).toBeLessThan(5000);
    }
    // The workflow's own Update validators refuse it too, for callers that bypass the API.
    const handle = app.temporal.workflow.getHandle(waiting.workflow.id);
    for (const [, bad] of UNSTORABLE) {
      for (const [update, args] of [
        ['reject', { feedback: `Shorter ${bad}` }],
        ['editDraft', { targetKey: 'fb', draft: { message: bad } }],
        ['approve', { edits: { fb: { message: bad } } }],
      ] as const) {
        const refused = await handle.executeUpdate(update, { args: [args] }).then(
          () => undefined,
          (err: Error) => err,
        );
        expect((refused?.cause as Error | undefined)?.message, update).toContain(STORABLE_TEXT_RULE);
      }
    }
    // Free-form draft values nested deeper than anything serialises safely (Temporal's payload
    // converter overflowed its stack on 100,000 levels): refused at the door, naming the field.
    // Sent as text: the test's own JSON.stringify would overflow on 100,000 levels too.
    const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
    for (const levels of [40, 100_000]) {
      expectProblem(
        await postJson(
          user.api,
          `/api/v1/posts/${id}/drafts/fb`,
          `{"draft":{"text":"x","extra":${nested(levels)}}}`,
          {},
          'PUT',
        ),
        422,
        `draft.extra${'[0]'.repeat(30)}`,
      );
      expectProblem(
        await postJson(user.api, `/api/v1/posts/${id}/review/approve`, `{"edits":{"fb":{"extra":${nested(levels)}}}}`),
        422,
        `edits.fb.extra${'[0]'.repeat(29)}`,
      );
    }
    expect(app.logLines.filter((l) => l.includes('"unhandled error"'))).toEqual([]);
    const after = (await call(user.api, `/api/v1/posts/${id}`)).body;
    expect(after.status).toBe('awaiting_review');
    expect(JSON.stringify(after.drafts ?? after.targets)).toBe(draftBefore);
  });

  it('is refused in query parameters, multipart names and headers; unknown path ids are not found', async () => {
    expectProblem(await call(user.api, '/api/v1/media?cursor=%00abc'), 422, 'cursor');
    // A lone surrogate has no UTF-8 form; its CESU-8 bytes are what a client could send.
    expectProblem(await call(user.api, '/api/v1/me/audit?cursor=%ED%A0%80'), 422, 'cursor');
    expectProblem(await call(user.api, '/api/v1/posts?status=%00'), 422, 'status');
    expectProblem(await call(user.api, '/api/v1/media/%00'), 404);
    expectProblem(await call(user.api, '/api/v1/posts/abc%00def'), 404);
    // Every path parameter, not only ids: a target key with a NUL names nothing.
    const someone = '00000000-0000-4000-8000-000000000000';
    // (A lone surrogate cannot even be percent-encoded: its CESU-8 bytes are malformed UTF-8, 400.)
    for (const [key, statuses] of [
      ['a%00b', [404, 422]],
      ['%ED%A0%80', [400]],
    ] as const) {
      const edit = await postJson(
        user.api,
        `/api/v1/posts/${someone}/drafts/${key}`,
        { draft: { message: 'x' } },
        {},
        'PUT',
      );
      expect(statuses, JSON.stringify(edit.body)).toContain(edit.status);
      const retry = await call(user.api, `/api/v1/posts/${someone}/targets/${key}/retry`, { method: 'POST' });
      expect(statuses, JSON.stringify(retry.body)).toContain(retry.status);
    }

    const photo = await photoWithExif(20, 20);
    const multipart = (disposition: string) =>
      call(user.api, '/api/v1/media', {
        method: 'POST',
        headers: { 'content-type': 'multipart/form-data; boundary=b0undary' },
        body: Buffer.concat([
          Buffer.from(`--b0undary\r\nContent-Disposition: form-data; ${disposition}\r\n\r\n`),
          photo,
          Buffer.from('\r\n--b0undary--\r\n'),
        ]),
      });
    // Percent-encoded (RFC 5987) names can carry a NUL past the part header parser.
    expectProblem(await multipart(`name="file"; filename*=UTF-8''photo%00.jpg`), 422, 'filename');
    // A raw NUL inside a part header is a malformed body.
    expectProblem(await multipart('name="file"; filename="photo\u0000.jpg"'), 400, 'file');
    // Lone surrogates cannot be written in UTF-8 at all: a client's encoder sends U+FFFD instead.
    const replaced = await upload(user.api, photo, `photo${LONE_HIGH}.jpg`);
    expect(replaced.status).toBe(201);
    expect(replaced.body.originalName).toBe('photoa\ufffdb.jpg');

    // Idempotency-Key: visible ASCII only (a Latin-1 byte arrives as a character outside it).
    expectProblem(
      await postJson(
        user.api,
        '/api/v1/posts',
        { caption: 'x', targets: [{ type: 'local_export' }] },
        { 'idempotency-key': 'caf\u00e9' },
      ),
      422,
      'Idempotency-Key',
    );
    // A NUL in a header never reaches Express: Node's parser refuses it, and the answer is still a problem.
    const raw = await rawRequest(
      port(),
      `GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-Note: a\u0000b\r\nAuthorization: Bearer ${user.apiKey}\r\n\r\n`,
    );
    expect(statusOf(raw)).toBe(400);
    expect(raw).toMatch(/application\/problem\+json/);
  });
});

describe('client errors are client errors', () => {
  it('answers malformed paths, bodies and encodings with 4xx problem+json, never 500', async () => {
    expectProblem(await call(user.api, '/api/v1/posts/%E0%A4%A'), 400, '(path)');
    expectProblem(await call(user.api, '/api/v1/media/%'), 400, '(path)');
    const garbageGzip = await call(user.api, '/api/v1/posts', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: '{"caption":"not gzip"}',
    });
    expectProblem(garbageGzip, 400, 'content-encoding');
    const truncatedGzip = gzipSync(JSON.stringify({ caption: 'x', targets: [{ type: 'local_export' }] }));
    expectProblem(
      await call(user.api, '/api/v1/posts', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: truncatedGzip.subarray(0, truncatedGzip.length - 8),
      }),
      400,
    );
    expectProblem(
      await call(user.api, '/api/v1/me', {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', 'content-encoding': 'zstd' },
        body: '{"name":"x"}',
      }),
      415,
      'content-encoding',
    );
    for (const [type, body] of [
      ['application/json; charset=latin1', '{"name":"x"}'],
      ['text/plain', 'name=x'],
    ] as const) {
      const refused = await call(user.api, '/api/v1/me', { method: 'PATCH', headers: { 'content-type': type }, body });
      expectProblem(refused, 415, 'content-type');
    }
    expectProblem(
      await call(user.api, '/api/v1/auth/sign-in', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'email=a&password=b',
      }),
      415,
    );
    expectProblem(await postJson(user.api, '/api/v1/me', `{"name":"${'x'.repeat(20_000)}"}`, {}, 'PATCH'), 413);
    const wrongMethod = await call(user.api, '/api/v1/me/audit', { method: 'POST' });
    expectProblem(wrongMethod, 405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD');
    const options = await call(user.api, '/api/v1/me/audit', { method: 'OPTIONS' });
    expect(options.status).toBe(204);
    expect(options.headers.get('allow')).toBe('GET, HEAD');
    // A path without parameters is its own resource, not an id of the one beside it.
    const staticPath = await call(user.api, '/api/v1/auth/session', { method: 'DELETE' });
    expectProblem(staticPath, 405);
    expect(app.logLines.filter((l) => l.includes('"unhandled error"'))).toEqual([]);
  });

  it('answers bodies nested thousands deep and dates outside the years 2000-2999 with 422, never 500', async () => {
    // 10 KB of brackets: small enough for the body limit, deep enough to overflow a recursive walk.
    const deep = `{"name":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    // Refused where it passes 32 levels, before any schema reads it.
    const tooDeep = (field: string) => `${field}${'[0]'.repeat(31)}`;
    expectProblem(await postJson(user.api, '/api/v1/me', deep, {}, 'PATCH'), 422, tooDeep('name'));
    expectProblem(
      await postJson(app.baseUrl, '/api/v1/auth/sign-in', deep.replace('name', 'email')),
      422,
      tooDeep('email'),
    );
    const post = (publishAt: unknown) =>
      postJson(user.api, '/api/v1/posts', { caption: 'when?', targets: [{ type: 'local_export' }], publishAt });
    // Year 10000 in UTC, years JavaScript reads as 1900-1999, and a second that does not exist.
    expectProblem(await post('9999-12-31T23:59:59-23:59'), 422, 'publishAt');
    expectProblem(await post('0001-01-01T00:00:00Z'), 422, 'publishAt');
    expectProblem(await post({ local: '0050-06-01T09:00', timeZone: 'UTC' }), 422, 'publishAt.local');
    expectProblem(await post({ local: '2030-12-01T09:00:99', timeZone: 'UTC' }), 422, 'publishAt.local');
    expectProblem(
      await call(user.api, '/api/v1/calendar?from=9999-12-31T00:00:00Z&to=9999-12-31T23:59:59-23:59'),
      422,
      'from',
    );
    const farCursor = Buffer.from(
      JSON.stringify(['+275760-09-13T00:00:00Z', '00000000-0000-0000-0000-000000000000']),
    ).toString('base64url');
    expectProblem(await call(user.api, `/api/v1/posts?cursor=${farCursor}`), 422, 'cursor');
    // A campaign starting where ten years of slots would run past 9999.
    const campaign = (startDate: string) =>
      postJson(user.api, '/api/v1/campaigns/preview', {
        cadence: { kind: 'weekly', slots: [{ day: 'mon', time: '18:00' }] },
        timeZone: 'Europe/Berlin',
        startDate,
        end: { count: 3 },
      });
    expectProblem(await campaign('9999-12-27'), 422, 'startDate');
    expectProblem(await campaign('0999-01-01'), 422, 'startDate');
    expect((await campaign('2999-12-27')).status).toBe(200);
    expect(app.logLines.filter((l) => l.includes('"unhandled error"'))).toEqual([]);
  });

  it('names a field once per problem, keeps a time zone as the tz database spells it, and asks for a missing password', async () => {
    const unknownZone = await postJson(user.api, '/api/v1/posts', {
      caption: 'zones',
      targets: [{ type: 'local_export' }],
      publishAt: { local: '2031-06-01T09:00', timeZone: 'Europe/Berlín' },
    });
    expectProblem(unknownZone, 422, 'publishAt.timeZone');
    const errors = unknownZone.body.errors as { field: string; message: string }[];
    expect(errors.filter((e) => e.field === 'publishAt.timeZone')).toHaveLength(1);

    const typedLower = await postJson(user.api, '/api/v1/posts', {
      caption: 'zones',
      targets: [{ type: 'local_export' }],
      publishAt: { local: '2031-06-01T09:00', timeZone: 'europe/berlin' },
    });
    expect(typedLower.status, JSON.stringify(typedLower.body)).toBe(201);
    expect(typedLower.body).toMatchObject({ publishAt: '2031-06-01T07:00:00.000Z', timeZone: 'Europe/Berlin' });
    await postJson(user.api, `/api/v1/posts/${typedLower.body.id}/cancel`, {});

    // A DELETE without a body: the password it needs, not the body's type.
    const res = await fetch(`${user.api.url}/api/v1/me`, { method: 'DELETE', headers: user.api.headers });
    const body = (await res.json()) as { errors: { field: string }[] };
    expect(res.status).toBe(422);
    expect(body.errors.map((e) => e.field)).toEqual(['password']);
  });

  it('takes only http(s) addresses where a URL is asked for (the panel links to them)', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'links',
      targets: [{ type: 'local_export' }],
      publishAt: new Date(Date.now() + 3600_000).toISOString(),
    });
    expect(created.status).toBe(201);
    for (const url of ['javascript:alert(1)', 'data:text/html,<b>x</b>', 'ftp://example.com/post']) {
      const confirm = await postJson(user.api, `/api/v1/posts/${created.body.id}/targets/local_export/confirm`, {
        url,
      });
      expectProblem(confirm, 422, 'url');
      const facebook = await postJson(user.api, '/api/v1/posts', {
        caption: 'link',
        targets: [{ type: 'facebook', connectionId: '00000000-0000-4000-8000-000000000000', link: url }],
      });
      expectProblem(facebook, 422, 'targets[0].link');
    }
  });

  it('answers headers over the limit with a problem+json 431', async () => {
    const raw = await rawRequest(
      port(),
      `GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-Padding: ${'p'.repeat(20_000)}\r\n\r\n`,
    );
    expect(statusOf(raw)).toBe(431);
    expect(raw).toMatch(/Content-Type: application\/problem\+json/);
    const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Json;
    expect(body).toMatchObject({ status: 431, title: 'Request Header Fields Too Large' });
  });

  it('answers a body cut short (fewer bytes than Content-Length) with 400 and keeps serving', async () => {
    const raw = await rawRequest(
      port(),
      `PATCH /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${user.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":`,
      { endAfterMs: 300 },
    );
    // The client hung up, so it may hear nothing; what matters is the server's own account of it.
    if (raw) expect(statusOf(raw)).toBe(400);
    expect(app.logLines.filter((l) => l.includes('"unhandled error"'))).toEqual([]);
    expect((await call(app.baseUrl, '/healthz')).status).toBe(200);
  });
});

describe('half-received uploads', () => {
  const incoming = () => join(app.dataDir, 'media', '.incoming');
  const partialFiles = async () => (await readdir(incoming()).catch(() => [] as string[])).length;
  /** Descriptors this process holds open on files under the data dir. */
  const openFilesInDataDir = async () => {
    const found: string[] = [];
    for (const fd of await readdir('/proc/self/fd')) {
      const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
      if (target.startsWith(app.dataDir)) found.push(target);
    }
    return found;
  };
  /** Open descriptors of this process (API, worker and test alike), sockets apart from everything else. */
  const openFds = async () => {
    let sockets = 0;
    let others = 0;
    for (const fd of await readdir('/proc/self/fd')) {
      const target = await readlink(`/proc/self/fd/${fd}`).catch(() => undefined);
      // The listing's own directory handle is not the app's.
      if (target === undefined || target.startsWith('/proc/')) continue;
      if (target.startsWith('socket:')) sockets++;
      else others++;
    }
    return { sockets, others };
  };
  /**
   * Descriptors over a few samples: the most seen as the baseline (things the warm-up opened lazily
   * count as there), the fewest seen afterwards (one open only for a moment is no leak).
   */
  const sampleFds = async (pick: (...n: number[]) => number) => {
    const samples = [];
    for (let i = 0; i < 6; i++) {
      samples.push(await openFds());
      await new Promise((r) => setTimeout(r, 50));
    }
    return { sockets: pick(...samples.map((s) => s.sockets)), others: pick(...samples.map((s) => s.others)) };
  };

  async function settled<T>(read: () => Promise<T>, ok: (value: T) => boolean, ms = 3000): Promise<T> {
    const deadline = Date.now() + ms;
    let value = await read();
    while (!ok(value) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      value = await read();
    }
    return value;
  }

  const boundary = 'hostile-boundary';
  const partHead = (name: string, filename: string) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: image/jpeg\r\n\r\n`;
  const request = (body: Buffer, contentLength = body.length) =>
    Buffer.concat([
      Buffer.from(
        `POST /api/v1/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${user.apiKey}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${contentLength}\r\n\r\n`,
      ),
      body,
    ]);

  it('leaves no partial file and no open descriptor after a burst of refused and aborted uploads', async () => {
    // Warm up so lazily opened things are open before counting: sharp, and the database pool at
    // the size a burst of concurrent requests grows it to.
    expect((await upload(user.api, await photoWithExif(40, 30))).status).toBe(201);
    await Promise.all(Array.from({ length: 40 }, () => call(user.api, '/api/v1/media?limit=1')));
    await new Promise((r) => setTimeout(r, 500));
    const fdsBefore = await sampleFds(Math.max);
    const rowsBefore = (await app.db.select({ n: count() }).from(media))[0]!.n;
    const jpegStart = (await photoWithExif(800, 600)).subarray(0, 64 * 1024);

    const burst: Promise<string>[] = [];
    for (let i = 0; i < 12; i++) {
      // Aborted: the client sends part of the file (more than a stream buffer), then hangs up.
      const body = Buffer.concat([Buffer.from(partHead('file', 'big.jpg')), jpegStart, jpegStart]);
      burst.push(rawRequest(port(), request(body, body.length + 1_000_000), { endAfterMs: 150 }));
      // Refused after the file part started: the body ends without its closing boundary.
      const cut = Buffer.concat([Buffer.from(partHead('file', 'cut.jpg')), jpegStart]);
      burst.push(rawRequest(port(), request(cut), { endAfterMs: 2000 }));
      // Refused after the file part started: a second part with a name that is not storable text.
      const badSecond = Buffer.concat([
        Buffer.from(partHead('file', 'one.jpg')),
        jpegStart,
        Buffer.from(`\r\n${partHead('x\u0000y', 'two.jpg')}zz\r\n--${boundary}--\r\n`),
      ]);
      burst.push(rawRequest(port(), request(badSecond), { endAfterMs: 2000 }));
      // Refused before the file part: a malformed part first, the file after it.
      const malformedFirst = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="note"\r\nno colon here\r\n\r\nv\r\n`),
        Buffer.from(partHead('file', 'after.jpg')),
        jpegStart,
        jpegStart,
      ]);
      burst.push(rawRequest(port(), request(malformedFirst, malformedFirst.length + 500_000), { endAfterMs: 1500 }));
    }
    const answers = await Promise.all(burst);
    for (const raw of answers) {
      if (raw) expect(statusOf(raw)).toBeGreaterThanOrEqual(400);
      if (raw) expect(statusOf(raw)).toBeLessThan(500);
    }

    expect(await settled(partialFiles, (n) => n === 0)).toBe(0);
    expect(await settled(openFilesInDataDir, (open) => open.length === 0)).toEqual([]);
    // Nothing else leaked either: no file or pipe, and not the burst's 48 connections (a database
    // or keep-alive connection or two may open meanwhile).
    const fdsAfter = await settled(
      () => sampleFds(Math.min),
      (n) => n.others <= fdsBefore.others && n.sockets <= fdsBefore.sockets + 4,
    );
    expect(fdsAfter.others, 'files, pipes and the like').toBeLessThanOrEqual(fdsBefore.others);
    expect(fdsAfter.sockets, 'sockets').toBeLessThanOrEqual(fdsBefore.sockets + 4);
    expect((await app.db.select({ n: count() }).from(media))[0]!.n).toBe(rowsBefore);

    // Still healthy: probes answer and a normal upload goes through.
    expect((await call(app.baseUrl, '/healthz')).status).toBe(200);
    expect((await call(app.baseUrl, '/readyz')).status).toBe(200);
    expect((await upload(user.api, await photoWithExif(41, 31))).status).toBe(201);
    expect(await partialFiles()).toBe(0);
  });
});
