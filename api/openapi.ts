import { z } from 'zod';
import { STORABLE_TEXT_RULE } from '../domain/text.js';
import { idempotencyKeySchema, targetKeySchema } from './schemas/posts.js';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface ResponseDoc {
  description: string;
  /** The body the code sends; a 4xx/5xx without one is a Problem (application/problem+json). */
  schema?: z.ZodType;
  contentType?: string;
}

export interface RouteDoc {
  method: Method;
  /** Express-style path: `/api/v1/posts/:id`. */
  path: string;
  summary: string;
  tag: string;
  /** Defaults to true: needs a session cookie or an API key. */
  auth?: boolean;
  body?: z.ZodType;
  /** The JSON body may be left out entirely (the route then reads it as `{}`). */
  bodyOptional?: boolean;
  /** A multipart upload with one file field. */
  upload?: { field: string; description: string };
  query?: z.ZodObject;
  /** Path parameters whose schema is not the default (`id` is a UUID, `targetKey` a target key). */
  params?: Record<string, z.ZodType>;
  headers?: { name: string; description: string; required?: boolean; schema?: z.ZodType }[];
  /**
   * Every answer the route itself gives. The answers every route can give (malformed request,
   * not signed in, not found, too large, invalid, internal error) are added by `buildOpenApi`.
   */
  responses: Record<number, ResponseDoc>;
}

// Open: RFC 9457 lets a problem carry extension members (a list of what would fit, say).
const problemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z
      .array(z.object({ field: z.string(), message: z.string() }))
      .optional()
      .describe('Each bad field: a JSON path into the body, a query parameter or header name, or "(body)"'),
  })
  .describe('RFC 9457 problem details; `errors` names each bad field.');

/** Headers with one meaning across the API, described once. */
const KNOWN_HEADERS: Record<string, z.ZodType> = { 'idempotency-key': idempotencyKeySchema };

const DEFAULT_PARAMS: Record<string, z.ZodType> = {
  id: z.uuid().describe('The id (a UUID); any other value is answered 404'),
  targetKey: targetKeySchema,
};

/** One JSON Schema per zod schema, self-contained: nothing refers outside it, nothing is hoisted. */
function toSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'any', reused: 'inline', cycles: 'throw' }) as Record<
    string,
    unknown
  >;
  delete json.$schema;
  return json;
}

const problemContent = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };

/** What every operation of this shape can answer besides its own responses. */
function commonResponses(doc: RouteDoc): Record<number, string> {
  const hasParams = /:[A-Za-z]+/.test(doc.path);
  const common: Record<number, string> = {
    400: 'The request could not be read: malformed percent-encoding in the path, malformed JSON, or a body that does not decode with its Content-Encoding',
    431: 'The request headers are larger than the server accepts',
    500: 'An unexpected error on our side; it is logged, and the details are not shown',
  };
  if (doc.auth !== false) {
    common[401] = 'Not signed in: send an API key as `Authorization: Bearer <key>`, or the session cookie';
    if (doc.method !== 'get') {
      common[403] = 'Signed in by cookie without the `X-CSRF-Token` header of this session';
    }
  }
  if (hasParams) common[404] = 'Not found: no such item among yours (ids of other accounts are not found either)';
  if (doc.body || doc.upload) {
    common[413] = 'The body is larger than allowed';
    common[415] = doc.upload
      ? 'The body is not multipart/form-data'
      : 'The body is not application/json, or its Content-Encoding or charset is not supported';
  }
  const checkedHeader = doc.headers?.some((h) => h.schema ?? KNOWN_HEADERS[h.name.toLowerCase()]);
  if (doc.body || doc.upload || doc.query || checkedHeader || hasParams) {
    common[422] = `Invalid input; \`errors\` names each field and why. Every text field ${STORABLE_TEXT_RULE}.`;
  }
  return common;
}

function operationId(doc: RouteDoc): string {
  const words = doc.path
    .replace(/^\/api\/v1\//, '')
    .split(/[/-]/)
    .filter(Boolean)
    .map((part) => (part.startsWith(':') ? `by ${part.slice(1)}` : part));
  const camel = [doc.method, ...words.join(' ').split(/\s+/)]
    .map((w, i) => (i === 0 ? w.toLowerCase() : w.charAt(0).toUpperCase() + w.slice(1)))
    .join('');
  return camel.replace(/[^A-Za-z0-9]/g, '');
}

function responseObject(status: number, response: ResponseDoc) {
  if (response.schema) {
    const type = response.contentType ?? (status >= 400 ? 'application/problem+json' : 'application/json');
    return { description: response.description, content: { [type]: { schema: toSchema(response.schema, 'output') } } };
  }
  if (status >= 400) return { description: response.description, content: problemContent };
  if (response.contentType) return { description: response.description, content: { [response.contentType]: {} } };
  return { description: response.description };
}

/** The OpenAPI 3.1 document, generated from the same zod schemas the routes validate with. */
export function buildOpenApi(docs: RouteDoc[], info: { version: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  const ids = new Set<string>();
  for (const doc of docs) {
    const path = doc.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [, name] of doc.path.matchAll(/:([A-Za-z]+)/g)) {
      const schema = doc.params?.[name!] ?? DEFAULT_PARAMS[name!] ?? z.string();
      parameters.push({ name, in: 'path', required: true, schema: toSchema(schema, 'input') });
    }
    if (doc.query) {
      const json = toSchema(doc.query, 'input') as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(json.properties ?? {})) {
        const { description, ...rest } = schema as { description?: string };
        parameters.push({
          name,
          in: 'query',
          required: json.required?.includes(name) ?? false,
          ...(description ? { description } : {}),
          schema: rest,
        });
      }
    }
    for (const header of doc.headers ?? []) {
      parameters.push({
        name: header.name,
        in: 'header',
        required: header.required ?? false,
        description: header.description,
        schema: toSchema(header.schema ?? KNOWN_HEADERS[header.name.toLowerCase()] ?? z.string(), 'input'),
      });
    }
    const responses: Record<string, unknown> = {};
    for (const [status, description] of Object.entries(commonResponses(doc))) {
      responses[status] = { description, content: problemContent };
    }
    for (const [status, response] of Object.entries(doc.responses)) {
      responses[status] = responseObject(Number(status), response);
    }
    const sorted = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)));
    const id = operationId(doc);
    if (ids.has(id)) throw new Error(`two operations would be called ${id}`);
    ids.add(id);
    paths[path] ??= {};
    paths[path][doc.method] = {
      operationId: id,
      summary: doc.summary,
      tags: [doc.tag],
      ...(doc.auth === false ? { security: [] } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(doc.body
        ? {
            requestBody: {
              required: !doc.bodyOptional,
              content: { 'application/json': { schema: toSchema(doc.body, 'input') } },
            },
          }
        : {}),
      ...(doc.upload
        ? {
            requestBody: {
              required: true,
              content: {
                'multipart/form-data': {
                  schema: {
                    type: 'object',
                    required: [doc.upload.field],
                    // Any other part is refused with 422, as unknown JSON properties are.
                    additionalProperties: false,
                    properties: {
                      [doc.upload.field]: { type: 'string', format: 'binary', description: doc.upload.description },
                    },
                  },
                },
              },
            },
          }
        : {}),
      responses: sorted,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'AutoPostPanel API',
      version: info.version,
      description: [
        'Plan, generate, review and publish social media posts. Authenticate with an API key (`Authorization: Bearer <key>`, create one under /api/v1/me/api-keys) or a session cookie plus the `X-CSRF-Token` header.',
        `Text: every text field, query parameter and file name ${STORABLE_TEXT_RULE}; anything else is refused with 422 naming the field.`,
        'Errors are RFC 9457 `application/problem+json` (schema `Problem`).',
      ].join('\n\n'),
    },
    servers: [{ url: '/' }],
    security: [{ apiKey: [] }, { sessionCookie: [] }],
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'An API key created under /api/v1/me/api-keys' },
        sessionCookie: { type: 'apiKey', in: 'cookie', name: 'app_session' },
      },
      schemas: { Problem: toSchema(problemSchema, 'output') },
    },
    paths,
  };
}
