import { readdir, readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  importFromUrl,
  internalAddressReason,
  type Resolver,
  UrlImportError,
  type UrlImportOptions,
} from '../media/url-import.js';
import { ConfigError, loadConfig } from '../runtime/config.js';
import { makeVideo, tempDir } from './helpers/media-files.js';

// A real HTTP server on loopback plays the outside world. Loopback is exactly what the importer
// must refuse, so tests reach it only through MEDIA_URL_ALLOWLIST entries or an injected resolver.

let dir: string;
let cleanup: () => Promise<void>;
let server: Server;
let other: Server;
let base: string;
let port: number;
let otherPort: number;
let jpeg: Buffer;
let mp4: Buffer;
const seen: IncomingMessage[] = [];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('url-import'));
  jpeg = await sharp({ create: { width: 32, height: 24, channels: 3, background: '#3366cc' } })
    .jpeg()
    .toBuffer();
  mp4 = await readFile(await makeVideo(join(dir, 'source.mp4'), { seconds: 1 }));
  server = createServer((req, res) => {
    seen.push(req);
    const path = req.url ?? '/';
    if (path === '/photo.jpg') return void res.end(jpeg);
    if (path === '/clip') return void res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(mp4);
    if (path === '/page') return void res.writeHead(200, { 'content-type': 'image/jpeg' }).end('<html>hello</html>');
    if (path === '/big') return void res.writeHead(200, { 'content-length': '5000000' }).end();
    if (path === '/endless') {
      // No Content-Length: a JPEG header, then more bytes than any limit.
      res.write(jpeg.subarray(0, 100));
      const chunk = Buffer.alloc(64 * 1024, 1);
      let sent = 0;
      const pump = () => {
        while (sent < 100 && res.write(chunk)) sent++;
        if (sent < 100) res.once('drain', pump);
        else res.end();
      };
      pump();
      return;
    }
    if (path === '/slow') return void res.write(jpeg.subarray(0, 100)); // and never ends
    if (path === '/missing') return void res.writeHead(404).end();
    if (path.startsWith('/to?')) {
      const target = new URL(path, 'http://x').searchParams.get('u') ?? '/';
      return void res.writeHead(302, { location: target }).end();
    }
    if (path === '/loop') return void res.writeHead(302, { location: '/loop' }).end();
    res.writeHead(404).end();
  });
  other = createServer((_req, res) => res.end(jpeg));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  otherPort = (other.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  server?.closeAllConnections();
  other?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await new Promise((r) => other?.close(r));
  await cleanup?.();
});

let n = 0;
const dest = () => join(dir, `import-${++n}`);
const allowed = (): UrlImportOptions => ({ maxBytes: 1024 * 1024, allowlist: [`127.0.0.1:${port}`] });

async function refusal(url: string, options: UrlImportOptions = { maxBytes: 1024 * 1024 }) {
  const path = dest();
  const error = await importFromUrl(url, path, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UrlImportError);
  await expect(stat(path)).rejects.toThrow(/ENOENT/);
  return error as UrlImportError;
}

/** Half-written downloads. */
async function leftovers() {
  return (await readdir(dir)).filter((name) => name.includes('partial'));
}

describe('importFromUrl: internal addresses are refused', () => {
  it.each([
    ['http://127.0.0.1/x', 'a loopback address'],
    ['http://127.1.2.3/x', 'a loopback address'],
    ['http://2130706433/x', 'a loopback address'],
    ['http://0x7f.1/x', 'a loopback address'],
    ['http://10.1.2.3/x', 'a private address'],
    ['http://172.16.5.4/x', 'a private address'],
    ['http://192.168.1.1/x', 'a private address'],
    ['http://169.254.169.254/latest/meta-data/', 'a link-local address'],
    ['http://100.64.0.1/x', 'a carrier-grade NAT address'],
    ['http://0.0.0.0/x', 'an unspecified ("this network") address'],
    ['http://224.0.0.1/x', 'a multicast address'],
    ['http://255.255.255.255/x', 'a reserved address'],
    ['http://[::1]/x', 'a loopback address'],
    ['http://[::]/x', 'the unspecified address'],
    ['http://[::ffff:127.0.0.1]/x', 'an IPv4-mapped address'],
    ['http://[::ffff:8.8.8.8]/x', 'an IPv4-mapped address'],
    ['http://[::127.0.0.1]/x', 'an IPv4-compatible address'],
    ['http://[64:ff9b::7f00:1]/x', 'a NAT64 address'],
    ['http://[fd00::1]/x', 'a unique local address'],
    ['http://[fc12:3456::1]/x', 'a unique local address'],
    ['http://[fe80::1]/x', 'a link-local address'],
    ['http://[fec0::1]/x', 'a site-local address'],
    ['http://[ff02::1]/x', 'a multicast address'],
    ['http://[2002:7f00:1::1]/x', 'a 6to4 address'],
    ['http://[2001:db8::1]/x', 'a documentation address'],
  ])('%s', async (url, reason) => {
    const error = await refusal(url);
    expect(error.code).toBe('address_not_allowed');
    expect(error.message).toContain(reason);
    expect(error.message).toMatch(/only be imported from public addresses/);
  });

  it('refuses schemes other than http and https, and URLs with credentials', async () => {
    for (const url of ['file:///etc/passwd', 'ftp://example.com/a.jpg', 'gopher://example.com/', 'data:image/png,xx']) {
      expect((await refusal(url)).code).toBe('scheme_not_allowed');
    }
    expect((await refusal('http://user:pw@example.com/a.jpg')).code).toBe('invalid_url');
    expect((await refusal('not a url')).code).toBe('invalid_url');
  });

  it('refuses a host name that resolves to 127.0.0.1, or to any internal address among public ones', async () => {
    const resolvers: [Resolver, string][] = [
      [async () => [{ address: '127.0.0.1', family: 4 }], 'media.example.test (127.0.0.1) is a loopback address'],
      [
        async () => [
          { address: '93.184.215.14', family: 4 },
          { address: '10.0.0.7', family: 4 },
        ],
        '(10.0.0.7) is a private address',
      ],
      [async () => [{ address: '::ffff:127.0.0.1', family: 6 }], 'an IPv4-mapped address'],
    ];
    for (const [resolver, words] of resolvers) {
      const error = await refusal(`http://media.example.test:${port}/photo.jpg`, { maxBytes: 1024, resolver });
      expect(error.code).toBe('address_not_allowed');
      expect(error.message).toContain(words);
    }
  });

  it('refuses a redirect from an allowed local server to an internal address', async () => {
    const before = seen.length;
    for (const target of [
      `http://127.0.0.1:${otherPort}/photo.jpg`,
      'http://169.254.169.254/latest/meta-data/',
      'http://[::1]/x',
      `http://localhost:${port}/photo.jpg`,
    ]) {
      const error = await refusal(`${base}/to?u=${encodeURIComponent(target)}`, allowed());
      expect(error.code).toBe('address_not_allowed');
    }
    // The allowed server was asked each time; the internal targets never were.
    expect(seen.length - before).toBe(4);
    expect(await leftovers()).toEqual([]);
  });

  it('refuses a redirect to another scheme', async () => {
    const error = await refusal(`${base}/to?u=${encodeURIComponent('file:///etc/passwd')}`, allowed());
    expect(error).toMatchObject({
      code: 'scheme_not_allowed',
      message: 'Only http and https URLs can be imported, not file:.',
    });
  });

  it('does not wait for a hanging DNS lookup past the time limit', async () => {
    const resolver: Resolver = () => new Promise(() => {});
    const error = await refusal('http://slow-dns.example.test/a.jpg', { maxBytes: 10, resolver, timeoutMs: 200 });
    expect(error.code).toBe('timeout');
  });

  it('reports unresolvable names in words', async () => {
    const resolver: Resolver = async () => {
      throw new Error('ENOTFOUND');
    };
    const error = await refusal('http://nowhere.example.test/a.jpg', { maxBytes: 10, resolver });
    expect(error).toMatchObject({
      code: 'dns_failed',
      message: 'The host name nowhere.example.test could not be resolved.',
    });
  });
});

describe('importFromUrl: an allowlisted local emulator', () => {
  it('downloads an image, its type sniffed from the bytes', async () => {
    const path = dest();
    const result = await importFromUrl(`${base}/photo.jpg`, path, allowed());
    expect(result).toMatchObject({ mime: 'image/jpeg', kind: 'image', bytes: jpeg.length, redirects: 0 });
    expect(await readFile(path)).toEqual(jpeg);
  });

  it('downloads a video served as application/octet-stream', async () => {
    const path = dest();
    const result = await importFromUrl(`${base}/clip`, path, allowed());
    expect(result).toMatchObject({ mime: 'video/mp4', kind: 'video', bytes: mp4.length });
    expect(await readFile(path)).toEqual(mp4);
  });

  it('follows redirects that stay allowed, and says where it ended', async () => {
    const result = await importFromUrl(`${base}/to?u=%2Fto%3Fu%3D%252Fphoto.jpg`, dest(), allowed());
    expect(result).toMatchObject({ finalUrl: `${base}/photo.jpg`, redirects: 2, mime: 'image/jpeg' });
  });

  it('allows only the listed port of an allowlisted host', async () => {
    const error = await refusal(`http://127.0.0.1:${otherPort}/photo.jpg`, allowed());
    expect(error.code).toBe('address_not_allowed');
  });

  it('connects to the address it resolved, once, with the URL host in the Host header (no rebinding)', async () => {
    let lookups = 0;
    // A rebinding DNS would answer 127.0.0.1 only after a first, public answer; the importer asks once.
    const resolver: Resolver = async () => {
      lookups++;
      return [{ address: '127.0.0.1', family: 4 }];
    };
    const before = seen.length;
    const result = await importFromUrl(`http://emulator.test:${port}/photo.jpg`, dest(), {
      maxBytes: 1024 * 1024,
      allowlist: [`emulator.test:${port}`],
      resolver,
    });
    expect(result.mime).toBe('image/jpeg');
    expect(lookups).toBe(1);
    expect(seen.slice(before).map((r) => r.headers.host)).toEqual([`emulator.test:${port}`]);
  });
});

describe('importFromUrl: limits and content', () => {
  it('refuses content that is not a supported image or video, whatever its Content-Type says', async () => {
    const error = await refusal(`${base}/page`, allowed());
    expect(error.code).toBe('unsupported_type');
    expect(error.message).toMatch(/not lead to a supported image or video/);
    expect(await leftovers()).toEqual([]);
  });

  it('refuses a declared size over the limit before reading it, and stops an undeclared one at the limit', async () => {
    expect((await refusal(`${base}/big`, allowed())).code).toBe('too_large');
    const error = await refusal(`${base}/endless`, { ...allowed(), maxBytes: 256 * 1024 });
    expect(error).toMatchObject({ code: 'too_large', message: 'The file is larger than the limit of 262144 bytes.' });
    expect(await leftovers()).toEqual([]);
  });

  it('gives up after the time limit and leaves nothing behind', async () => {
    const error = await refusal(`${base}/slow`, { ...allowed(), timeoutMs: 300 });
    expect(error).toMatchObject({ code: 'timeout', message: 'The download did not finish within 0.3 s.' });
    expect(await leftovers()).toEqual([]);
  });

  it('stops redirect loops and reports HTTP errors', async () => {
    expect(await refusal(`${base}/loop`, allowed())).toMatchObject({
      code: 'too_many_redirects',
      message: 'The URL redirected more than 5 times.',
    });
    expect(await refusal(`${base}/missing`, allowed())).toMatchObject({ code: 'http_status' });
  });
});

describe('internalAddressReason', () => {
  it('lets ordinary public addresses through', () => {
    for (const ip of ['8.8.8.8', '1.1.1.1', '93.184.215.14', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e']) {
      expect(internalAddressReason(ip)).toBeUndefined();
    }
  });

  it('names every internal range', () => {
    expect(internalAddressReason('172.31.255.255')).toBe('a private address');
    expect(internalAddressReason('172.32.0.1')).toBeUndefined();
    expect(internalAddressReason('100.127.255.255')).toBe('a carrier-grade NAT address');
    expect(internalAddressReason('100.128.0.1')).toBeUndefined();
    expect(internalAddressReason('198.19.1.1')).toBe('a benchmarking address');
    expect(internalAddressReason('fe80::1%eth0')).toBe('a scoped (link-local) address');
    expect(internalAddressReason('::ffff:0:7f00:1')).toBe('an IPv4-translated address');
    expect(internalAddressReason('2001::1')).toBe('an IETF protocol address (e.g. Teredo)');
    expect(internalAddressReason('example.com')).toBe('not an IP address');
  });
});

describe('MEDIA_URL_ALLOWLIST', () => {
  it('reads host[:port] entries separated by commas or spaces', () => {
    const config = loadConfig({ MEDIA_URL_ALLOWLIST: 'localhost:4010, 127.0.0.1:9000 [::1]:8080 Emulator.Test' });
    expect(config.MEDIA_URL_ALLOWLIST).toEqual(['localhost:4010', '127.0.0.1:9000', '[::1]:8080', 'emulator.test']);
    expect(loadConfig({}).MEDIA_URL_ALLOWLIST).toEqual([]);
  });

  it('names the variable when an entry is not host[:port]', () => {
    expect(() => loadConfig({ MEDIA_URL_ALLOWLIST: 'http://localhost:4010/' })).toThrow(ConfigError);
    expect(() => loadConfig({ MEDIA_URL_ALLOWLIST: 'http://localhost:4010/' })).toThrow(
      /MEDIA_URL_ALLOWLIST: expected host\[:port\] entries/,
    );
  });
});
