import { type Algorithm, hash, verify } from '@node-rs/argon2';

// Algorithm.Argon2id: a const enum, which isolated modules cannot read as a value.
const ARGON2ID = 2 as Algorithm;

// argon2id with the library's defaults (19 MiB, 2 passes): OWASP's baseline recommendation.
export function hashPassword(password: string): Promise<string> {
  return hash(password, { algorithm: ARGON2ID });
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

/** A real hash to verify against when the account does not exist, so timing does not tell. */
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword('decoy password that matches nothing');
  return decoy;
}
