// Errors the use cases raise, in words a person can act on. They know nothing of HTTP: the API maps
// them to status codes in one place (api/problem.ts), an activity to retryable or not.

export interface FieldError {
  field: string;
  message: string;
}

/** The thing does not exist, or belongs to somebody else (the two are never told apart). */
export class NotFoundError extends Error {
  override name = 'NotFoundError';
  constructor(readonly what: string) {
    super(`${what} does not exist`);
  }
}

/** The request is well-formed but the thing is not in a state that allows it. */
export class ConflictError extends Error {
  override name = 'ConflictError';
  constructor(
    readonly title: string,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** Bad input, field by field. */
export class ValidationError extends Error {
  override name = 'ValidationError';
  /** More the answer carries beside the field errors (e.g. a media report per target). */
  details?: Record<string, unknown>;
  constructor(readonly errors: FieldError[]) {
    super(errors.map((e) => `${e.field}: ${e.message}`).join('; '));
  }
}

/** A dependency (Temporal, the database) did not answer in time; the same request may be repeated. */
export class UnavailableError extends Error {
  override name = 'UnavailableError';
  constructor(
    readonly title: string,
    readonly reason: string,
    readonly retryAfterSeconds: number,
  ) {
    super(reason);
  }
}
