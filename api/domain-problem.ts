import type { ErrorRequestHandler } from 'express';
import { isDatabaseUnavailable } from '../db/errors.js';
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '../domain/errors.js';
import { Problem } from './problem.js';

/** Seconds a client is asked to wait before repeating a request the database could not serve. */
const DATABASE_RETRY_AFTER_SECONDS = 5;

/**
 * The one mapping from the use cases' domain errors to HTTP problems; a database that cannot be
 * reached is an outage to wait out (503), not an internal error.
 */
export function problemFromDomainError(err: unknown): Problem | undefined {
  if (isDatabaseUnavailable(err)) {
    return new Problem(
      503,
      'Database unavailable',
      'The database did not answer; nothing was changed by this request. Repeat it shortly.',
    ).withHeader('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
  }
  if (err instanceof NotFoundError) return Problem.notFound(err.what);
  if (err instanceof ValidationError) {
    const problem = Problem.validation(err.errors);
    Object.assign(problem.extensions, err.details);
    return problem;
  }
  if (err instanceof ConflictError) return new Problem(409, err.title, err.reason);
  if (err instanceof UnavailableError) {
    return new Problem(503, err.title, err.reason).withHeader('Retry-After', String(err.retryAfterSeconds));
  }
  return undefined;
}

/** Error middleware: domain errors leave as problem+json; anything else goes on unchanged. */
export const domainErrorHandler: ErrorRequestHandler = (err, _req, _res, next) => {
  next(problemFromDomainError(err) ?? err);
};
