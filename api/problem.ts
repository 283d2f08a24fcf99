import type { ErrorRequestHandler, Response } from 'express';
import type { z } from 'zod';
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
  return error.issues.map((issue) => {
    const path = issue.path
      .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
      .join('');
    const field = [prefix, path].filter(Boolean).join('.') || '(body)';
    return { field, message: issue.message };
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
    });
}

interface BodyParserError extends Error {
  type?: string;
  status?: number;
}

/** Last handler: every error leaves as problem+json, and never with a stack trace. */
export const problemHandler: ErrorRequestHandler = (err, req, res, _next) => {
  if (res.headersSent) return;
  if (err instanceof Problem) return sendProblem(res, err);
  const parserError = err as BodyParserError;
  if (parserError.type === 'entity.parse.failed') {
    return sendProblem(
      res,
      new Problem(400, 'Malformed JSON', 'The request body is not valid JSON', [
        { field: '(body)', message: parserError.message },
      ]),
    );
  }
  if (parserError.type === 'entity.too.large') {
    return sendProblem(res, new Problem(413, 'Body too large', 'The request body is larger than allowed'));
  }
  if (parserError.type === 'encoding.unsupported' || parserError.type === 'charset.unsupported') {
    return sendProblem(res, new Problem(415, 'Unsupported encoding', parserError.message));
  }
  req.log?.error({ err: safeError(err) }, 'unhandled error');
  sendProblem(res, new Problem(500, 'Internal error', 'Something went wrong on our side; the error is logged'));
};

/** Validates `value` against `schema`, or throws a 422 problem naming every bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, prefix?: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw Problem.validation(fieldErrorsFromZod(parsed.error, prefix));
  return parsed.data;
}
