import { z } from 'zod';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteDoc {
  method: Method;
  /** Express-style path: `/api/v1/posts/:id`. */
  path: string;
  summary: string;
  tag: string;
  /** Defaults to true: needs a session cookie or an API key. */
  auth?: boolean;
  body?: z.ZodType;
  /** A multipart upload with one file field. */
  upload?: { field: string; description: string };
  query?: z.ZodObject;
  headers?: { name: string; description: string; required?: boolean }[];
  responses: Record<number, { description: string; schema?: z.ZodType; contentType?: string }>;
}

const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details; `errors` names each bad field.' });

const toSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any', reused: 'inline' });

/** The OpenAPI 3.1 document, generated from the same zod schemas the routes validate with. */
export function buildOpenApi(docs: RouteDoc[], info: { version: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const doc of docs) {
    const path = doc.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [, name] of doc.path.matchAll(/:([A-Za-z]+)/g)) {
      parameters.push({ name, in: 'path', required: true, schema: { type: 'string' } });
    }
    if (doc.query) {
      const json = toSchema(doc.query, 'input') as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(json.properties ?? {})) {
        parameters.push({ name, in: 'query', required: json.required?.includes(name) ?? false, schema });
      }
    }
    for (const header of doc.headers ?? []) {
      parameters.push({
        name: header.name,
        in: 'header',
        required: header.required ?? false,
        description: header.description,
        schema: { type: 'string' },
      });
    }
    const responses: Record<string, unknown> = {};
    for (const [status, response] of Object.entries(doc.responses)) {
      responses[status] = {
        description: response.description,
        ...(response.schema
          ? {
              content: {
                [response.contentType ?? 'application/json']: { schema: toSchema(response.schema, 'output') },
              },
            }
          : response.contentType
            ? { content: { [response.contentType]: {} } }
            : {}),
      };
    }
    responses['4XX'] = {
      description: 'The request was refused; see the problem details',
      content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
    };
    paths[path] ??= {};
    paths[path][doc.method] = {
      summary: doc.summary,
      tags: [doc.tag],
      ...(doc.auth === false ? { security: [] } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(doc.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: toSchema(doc.body, 'input') } } } }
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
                    properties: {
                      [doc.upload.field]: { type: 'string', format: 'binary', description: doc.upload.description },
                    },
                  },
                },
              },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'AutoPostPanel API',
      version: info.version,
      description:
        'Plan, generate, review and publish social media posts. Authenticate with an API key (`Authorization: Bearer <key>`, create one under /api/v1/me/api-keys) or a session cookie plus the `X-CSRF-Token` header.',
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
