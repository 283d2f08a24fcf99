import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

// The Temporal UI has no sign-in of its own and shows every tenant's histories (captions, drafts,
// briefs); Temporal's gRPC port and PostgreSQL answer anyone who reaches them. Only the API, which
// authenticates every request, may listen beyond the host itself.

const compose = async () =>
  parse(await readFile(new URL('../docker-compose.yml', import.meta.url), 'utf8'), { merge: true }) as {
    services: Record<
      string,
      { ports?: (string | { host_ip?: string; published?: string | number })[]; environment?: Record<string, unknown> }
    >;
  };

/** What compose makes of `${NAME:-default}` when the operator sets nothing. */
const byDefault = (value: unknown) => String(value).replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1');

/** The host address a published port listens on; none given means every interface. */
function hostAddress(port: string | { host_ip?: string }): string {
  if (typeof port !== 'string') return port.host_ip ?? '0.0.0.0';
  const parts = byDefault(port).split(':');
  return parts.length === 3 ? parts[0]! : '0.0.0.0';
}

describe('docker-compose exposes only the API beyond the host', () => {
  it('publishes the Temporal UI, Temporal and PostgreSQL on 127.0.0.1 only', async () => {
    const { services } = await compose();
    expect(services['temporal-ui']!.ports?.length).toBeGreaterThan(0);
    for (const [name, service] of Object.entries(services)) {
      if (name === 'api') continue;
      for (const port of service.ports ?? [])
        expect(hostAddress(port), `${name}: ${JSON.stringify(port)}`).toBe('127.0.0.1');
    }
  });

  it('starts the Temporal UI without write actions (terminate, reset, signal)', async () => {
    const { services } = await compose();
    expect(byDefault(services['temporal-ui']!.environment!.TEMPORAL_DISABLE_WRITE_ACTIONS)).toBe('true');
  });
});
