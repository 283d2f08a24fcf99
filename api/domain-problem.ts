import type { ErrorRequestHandler } from 'express';
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '../domain/errors.js';
import { Problem } from './problem.js';

/** The one mapping from the use cases' domain errors to HTTP problems. */
export function problemFromDomainError(err: unknown): Problem | undefined {
  if (err instanceof NotFoundError) return Problem.notFound(err.what);
  if (err instanceof ValidationError) return Problem.validation(err.errors);
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
