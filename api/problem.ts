import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, Response } from 'express';
import type { z } from 'zod';
import { findTooDeep, MAX_JSON_DEPTH } from '../domain/json-depth.js';
import { findUnstorableText, STORABLE_TEXT_RULE } from '../domain/text.js';
import { safeError } from '../runtime/errors.js';

export interface FieldError {
  field: string;
  message: string;
}

/** An error the API answers as RFC 9457 application/problem+json. */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly errors: FieldError[] = [],
  ) {
    super(detail);
  }

  readonly headers: Record<string, string> = {};
  /** Extension members of the problem body (RFC 9457 section 3.2). */
  readonly extensions: Record<string, unknown> = {};

  withHeader(name: string, value: string): this {
    this.headers[name] = value;
    return this;
  }

  static validation(errors: FieldError[]): Problem {
    return new Problem(422, 'Invalid request', errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors);
  }

  static notFound(what: string): Problem {
    return new Problem(404, 'Not found', `${what} does not exist`);
  }
}

export function fieldErrorsFromZod(error: z.ZodError, prefix?: string): FieldError[] {
  const fieldOf = (path: PropertyKey[]) =>
    [prefix, path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('')]
      .filter(Boolean)
      .join('.') || '(body)';
  const errors = error.issues.flatMap((issue) =>
    // An unknown key is named itself, not the object that holds it.
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ field: fieldOf([...issue.path, key]), message: 'unknown field' }))
      : [{ field: fieldOf(issue.path), message: issue.message }],
  );
  // Two checks of one field that fail with the same words (a time zone's shape and its name) say it once.
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = JSON.stringify([e.field, e.message]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function sendProblem(res: Response, problem: Problem): void {
  for (const [name, value] of Object.entries(problem.headers)) res.setHeader(name, value);
  res
    .status(problem.status)
    .type('application/problem+json')
    .json({
      type: 'about:blank',
      title: problem.title,
      status: problem.status,
      detail: problem.detail,
      ...(problem.errors.length > 0 ? { errors: problem.errors } : {}),
      ...problem.extensions,
    });
}

interface FrameworkError extends Error {
  type?: string;
  status?: number;
  statusCode?: number;
}

/**
 * Errors Express and body-parser raise for a bad request carry the 4xx status they mean (a path
 * with malformed percent-encoding, a body that does not decode, a client that hung up); they are
 * the client's fault and are answered as such, never as a 500.
 */
function clientProblem(err: FrameworkError): Problem | undefined {
  switch (err.type) {
    case 'entity.parse.failed':
      return new Problem(400, 'Malformed JSON', 'The request body is not valid JSON', [
        { field: '(body)', message: err.message },
      ]);
    case 'entity.too.large':
      return new Problem(413, 'Body too large', 'The request body is larger than allowed', [
        { field: '(body)', message: 'too large' },
      ]);
    case 'encoding.unsupported':
      return new Problem(415, 'Unsupported encoding', err.message, [
        { field: 'content-encoding', message: 'expected identity, gzip, deflate or br' },
      ]);
    case 'charset.unsupported':
      return new Problem(415, 'Unsupported charset', err.message, [
        { field: 'content-type', message: 'expected JSON in utf-8 (charset=utf-8 or none)' },
      ]);
    case 'request.aborted':
      return new Problem(400, 'Request aborted', 'The client stopped sending the body before its end');
    case 'request.size.invalid':
      return new Problem(400, 'Body size mismatch', 'The body is not as long as its Content-Length says');
  }
  const status = err.status ?? err.statusCode;
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  if (err instanceof URIError) {
    return new Problem(400, 'Malformed URL', 'The request path has malformed percent-encoding', [
      { field: '(path)', message: 'malformed percent-encoding' },
    ]);
  }
  // zlib and brotli failures while inflating a body: its Content-Encoding does not match its bytes.
  if (err.type === undefined && typeof (err as { code?: unknown }).code === 'string') {
    return new Problem(400, 'Malformed body', 'The body does not decode with its Content-Encoding', [
      { field: 'content-encoding', message: 'the body does not decode with this encoding' },
    ]);
  }
  return new Problem(status, STATUS_CODES[status] ?? 'Bad request', 'The request could not be read');
}

/** Last handler: every error leaves as problem+json, and never with a stack trace. */
export const problemHandler: ErrorRequestHandler = (err, req, res, _next) => {
  if (res.headersSent) return;
  if (err instanceof Problem) return sendProblem(res, err);
  const problem = err instanceof Error ? clientProblem(err) : undefined;
  if (problem) return sendProblem(res, problem);
  req.log?.error({ err: safeError(err) }, 'unhandled error');
  sendProblem(res, new Problem(500, 'Internal error', 'Something went wrong on our side; the error is logged'));
};

/**
 * Validates `value` against `schema`, or throws a 422 problem naming every bad field. Text
 * PostgreSQL cannot store is refused here first, at any depth (free-form objects such as draft
 * edits included), so it never reaches the database, a workflow or an activity.
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, prefix?: string): z.output<S> {
  const unstorable = findUnstorableText(value);
  if (unstorable !== undefined) {
    const field = [prefix, unstorable === '(value)' ? '' : unstorable].filter(Boolean).join('.') || '(body)';
    throw Problem.validation([{ field, message: STORABLE_TEXT_RULE }]);
  }
  const deep = findTooDeep(value);
  if (deep !== undefined) {
    const field = [prefix, deep === '(value)' ? '' : deep].filter(Boolean).join('.') || '(body)';
    throw Problem.validation([{ field, message: `must not nest arrays and objects more than ${MAX_JSON_DEPTH} deep` }]);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw Problem.validation(fieldErrorsFromZod(parsed.error, prefix));
  return parsed.data;
}
