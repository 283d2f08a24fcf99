import { useRef } from 'preact/hooks';

/**
 * A fresh Idempotency-Key: a random UUID. `crypto.randomUUID` exists only in secure contexts, and
 * the panel may be served over plain HTTP on a LAN address, so the same from `getRandomValues`.
 */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The Idempotency-Key each body of a create was sent with: sending the same body again (after a
 * lost answer or a 503) gets what the server already made; a changed body is a new one under a new
 * key. `done` forgets a body once made, so making the same thing again on purpose is a new one.
 */
export function useKeyPerBody(): { keyFor: (body: unknown) => string; done: (body: unknown) => void } {
  const keys = useRef(new Map<string, string>());
  return {
    keyFor(body) {
      const sent = JSON.stringify(body);
      let key = keys.current.get(sent);
      if (!key) {
        key = newIdempotencyKey();
        keys.current.set(sent, key);
      }
      return key;
    },
    done(body) {
      keys.current.delete(JSON.stringify(body));
    },
  };
}
