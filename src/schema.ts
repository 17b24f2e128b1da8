import { z } from 'zod';
import { annotationsFor, type AnyTool } from './tool.js';

export interface ListedTool {
  name: string;
  title: string;
  description: string;
  inputSchema: Record<string, unknown>;
  outputSchema: Record<string, unknown>;
  annotations: ReturnType<typeof annotationsFor>;
}

const errorSchema = z
  .object({
    code: z.union([z.string(), z.number()]).describe('Vendor or server code'),
    message: z.string().describe('What went wrong'),
    hint: z.string().optional().describe('What to do next'),
    retryable: z.boolean().describe('Repeating may succeed'),
    source: z.enum(['validation', 'upstream', 'network', 'config', 'safety']).describe('Where it failed'),
    outcome: z.enum(['not_sent', 'failed', 'unknown']).describe('unknown: points may have moved'),
    field: z.string().optional().describe('Argument at fault'),
    http_status: z.number().optional().describe('HTTP status'),
  })
  .describe('Set when isError');

/** Fields the server adds to every result. */
export const commonOutput = {
  environment: z.enum(['live', 'sandbox']).describe('sandbox: simulated data'),
  replayed: z.boolean().optional().describe('true: earlier result returned, nothing sent'),
  idempotency_key: z.string().optional().describe('external_reference_number used'),
  note: z.string().optional().describe('Server note'),
  dry_run_request: z
    .object({
      method: z.string().describe('HTTP method'),
      url: z.string().describe('URL'),
      query: z.record(z.string(), z.string()).describe('Query'),
      headers: z.record(z.string(), z.string()).describe('Headers, secrets redacted'),
      body: z.unknown().optional().describe('JSON body'),
    })
    .optional()
    .describe('dry_run: the request not sent'),
  error: errorSchema.optional(),
};

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _s, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

/** A tool as tools/list shows it. Output fields are optional: an error or dry run carries none. */
export function listTool(t: AnyTool): ListedTool {
  const output = t.output.extend(commonOutput);
  const outputSchema = jsonSchema(output.partial().required({ environment: true }), 'output');
  return {
    name: t.name,
    title: t.title,
    description: t.description,
    inputSchema: jsonSchema(t.input, 'input'),
    outputSchema,
    annotations: annotationsFor(t.effect, t.title),
  };
}

/** The full output schema a tool's results are checked against before they leave. */
export const fullOutput = (t: AnyTool) => t.output.extend(commonOutput);
