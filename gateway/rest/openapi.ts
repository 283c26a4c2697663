// GET /openapi.json: an OpenAPI 3.1 document generated from the router's table and its zod schemas
// (zod 4 z.toJSONSchema; request schemas as input, answers as output). Every route is in it and
// nothing else (openapi.test in rest.test.ts checks both ways).

import { z } from 'zod';
import { PERMISSIONS } from '../auth/permissions.js';
import { problemTypes } from './problem.js';
import type { Route } from './router.js';
import { CASE_INSENSITIVE, Problem } from './schemas.js';

type Json = Record<string, unknown>;

function schemaOf(s: z.ZodType, io: 'input' | 'output'): Json {
  const j = z.toJSONSchema(s, {
    io, unrepresentable: 'any', target: 'draft-2020-12',
    // A case-insensitive enum (schemas.ts ciEnum) is documented by its pattern: an `enum` would say "BUY" is refused.
    override: (ctx) => { if (io === 'input' && CASE_INSENSITIVE.has(ctx.zodSchema as unknown as z.ZodType)) delete ctx.jsonSchema['enum']; },
  }) as Json;
  delete j['$schema'];
  return j;
}

function parameters(r: Route): Json[] {
  const out: Json[] = [];
  const add = (obj: z.ZodObject | undefined, where: 'path' | 'query'): void => {
    if (obj === undefined) return;
    const js = schemaOf(obj, 'input') as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, schema] of Object.entries(js.properties ?? {})) {
      out.push({ name, in: where, required: where === 'path' || (js.required ?? []).includes(name), schema });
    }
  };
  add(r.params, 'path');
  add(r.query, 'query');
  return out;
}

export function openApiDocument(routes: readonly Route[], info: { title?: string; version?: string } = {}): Json {
  const paths: Record<string, Json> = {};
  const problemRef = { $ref: '#/components/schemas/Problem' };
  const problemContent = { 'application/problem+json': { schema: problemRef } };
  for (const r of routes) {
    const op: Json = {
      operationId: `${r.method}${r.path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_, ch: string | undefined) => (ch ?? '').toUpperCase())}`,
      summary: r.summary, tags: [r.tag],
      'x-permission': r.permission,
      security: r.permission === 'public' ? [] : [{ bearer: [] }, { apiKey: [], apiTimestamp: [], apiNonce: [], apiSignature: [] }],
      parameters: parameters(r),
      responses: {
        [String(r.status ?? 200)]: r.status === 204 ? { description: 'done' } : {
          description: 'success',
          content: r.textResponse ? { 'text/plain': { schema: { type: 'string' } } } : { 'application/json': { schema: r.response ? schemaOf(r.response, 'output') : {} } },
        },
        default: { description: 'RFC 9457 problem (see components.x-problem-types)', content: problemContent },
      },
    };
    if (r.permission !== 'public') op['description'] = `Needs ${r.permission}: ${PERMISSIONS[r.permission].description}.`;
    if (r.body !== undefined) op['requestBody'] = { required: true, content: { 'application/json': { schema: schemaOf(r.body, 'input') } } };
    (paths[r.path] ??= {})[r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: info.title ?? 'trading-engine REST API', version: info.version ?? '0.1.0', description: 'JSON REST shim of the trading engine (gateway/rest/). Decimals are strings; errors are RFC 9457 problems.' },
    paths,
    components: {
      schemas: { Problem: schemaOf(Problem, 'output') },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-TE-APIKEY' },
        apiTimestamp: { type: 'apiKey', in: 'header', name: 'X-TE-TIMESTAMP' },
        apiNonce: { type: 'apiKey', in: 'header', name: 'X-TE-NONCE' },
        apiSignature: { type: 'apiKey', in: 'header', name: 'X-TE-SIGNATURE' },
      },
      // Every code the shim can answer with (problem.ts ProblemCode): type, code, status, reason_code, description.
      'x-problem-types': problemTypes(),
    },
  };
}

export function openApiRoute(all: () => readonly Route[]): Route {
  let cached: string | null = null;
  return {
    method: 'get', path: '/openapi.json', permission: 'public', tag: 'health', summary: 'This document',
    handler: () => ({ text: (cached ??= JSON.stringify(openApiDocument(all()))), contentType: 'application/json' }),
  };
}
