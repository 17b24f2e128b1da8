import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CallToolResultSchema,
  ElicitRequestSchema,
  GetPromptResultSchema,
  ListToolsResultSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveEnv } from '../fixtures/canary.js';
import { spawnHttp, tempDir } from '../fixtures/cli.js';
import { type Connected, call, connectHttp, connectStdio } from '../fixtures/clients.js';
import { FakeCapillary } from '../fixtures/fake-capillary.js';
import { perTest } from '../fixtures/lifecycle.js';

/**
 * What a client that follows the MCP spec (or validates against the listed schemas) expects:
 * protocol errors as JSON-RPC errors with one-line messages, prompts/get checking its arguments,
 * confirmation refused plainly to a client that cannot show a form, and one type per output field.
 */

const { server } = perTest();

/** The JSON-RPC error a request gets (fails the test when it gets a result instead). */
async function rpcError(p: Promise<unknown>): Promise<McpError> {
  const e = await p.then(
    (r) => {
      throw new Error(`expected a JSON-RPC error, got a result: ${JSON.stringify(r).slice(0, 300)}`);
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(McpError);
  return e as McpError;
}

/** One prefix ("MCP error -32602: "), added by the client; the server's own message is one line. */
function expectOneLine(e: McpError, code: number): string {
  expect(e.code).toBe(code);
  const prefix = `MCP error ${code}: `;
  expect(e.message.startsWith(prefix)).toBe(true);
  const own = e.message.slice(prefix.length);
  expect(own).not.toMatch(/MCP error/);
  expect(own).not.toMatch(/\n/);
  expect(own.length).toBeLessThan(300);
  return own;
}

describe('protocol errors (stdio)', () => {
  let fake: FakeCapillary;
  let m: Connected;
  beforeAll(async () => {
    fake = await new FakeCapillary().start();
    m = await connectStdio(liveEnv(fake.url));
  });
  afterAll(async () => {
    await m?.close();
    await fake?.close();
  });

  it('an unknown tool is invalid params (-32602), not a tool result', async () => {
    const e = await rpcError(m.client.callTool({ name: 'redeem_pointz', arguments: {} }));
    expect(expectOneLine(e, -32602)).toBe('Unknown tool: redeem_pointz');
    expect(fake.requests).toEqual([]);
  });

  it('malformed tools/call params are invalid params with one line naming the field, not an internal error', async () => {
    for (const params of [{ name: 5 }, { arguments: {} }, { name: 'redeem_points', arguments: [1, 2] }]) {
      const e = await rpcError(
        m.client.request({ method: 'tools/call', params: params as any }, CallToolResultSchema),
      );
      const own = expectOneLine(e, -32602);
      expect(own).toMatch(/^Invalid params for tools\/call: (name|arguments): /);
    }
    const list = await rpcError(
      m.client.request({ method: 'tools/list', params: { cursor: 5 } as any }, ListToolsResultSchema),
    );
    expect(expectOneLine(list, -32602)).toMatch(/^Invalid params for tools\/list: cursor: /);
    expect(fake.requests).toEqual([]);
  });

  it('an unknown method is still method not found (-32601)', async () => {
    const e = await rpcError(
      m.client.request({ method: 'resources/list', params: {} }, ListToolsResultSchema),
    );
    expect(expectOneLine(e, -32601)).toBe('Method not found');
  });

  it('prompts/get refuses a missing required argument and an unknown prompt; with them, no placeholders', async () => {
    const missing = await rpcError(
      m.client.getPrompt({
        name: 'redeem_points_for_customer',
        arguments: { customer: 'mobile 919000000001' },
      }),
    );
    expect(expectOneLine(missing, -32602)).toBe(
      'Missing required argument for prompt redeem_points_for_customer: points',
    );
    const none = await rpcError(m.client.getPrompt({ name: 'redeem_points_for_customer' }));
    expect(expectOneLine(none, -32602)).toMatch(
      /arguments for prompt redeem_points_for_customer: customer, points$/,
    );
    const blank = await rpcError(
      m.client.getPrompt({ name: 'redeem_points_for_customer', arguments: { customer: ' ', points: '5' } }),
    );
    expect(expectOneLine(blank, -32602)).toMatch(/: customer$/);
    expect(expectOneLine(await rpcError(m.client.getPrompt({ name: 'nope' })), -32602)).toBe(
      'Unknown prompt: nope',
    );
    const ok = await m.client.request(
      {
        method: 'prompts/get',
        params: {
          name: 'redeem_points_for_customer',
          arguments: { customer: 'mobile 919000000001', points: '5' },
        },
      },
      GetPromptResultSchema,
    );
    const text = (ok.messages[0].content as { text: string }).text;
    expect(text).toMatch(/^Redeem 5 points for customer mobile 919000000001\./);
    expect(text).not.toMatch(/\((customer|points)\)/);
  });

  it("error.code is a string for the server's codes and for Capillary's, and the listed error object names its fields", async () => {
    fake.on('POST', '/v2/points/unlockPromisedPoints', {
      status: 400,
      json: { errors: [{ status: false, code: 82323282, message: 'No promise points found to unlock' }] },
    });
    const local = await call(m.client, 'update_redemption', { redemption_id: 'r1' });
    expect(local.structuredContent.error.code).toBe('748');
    const own = await call(m.client, 'update_redemption', { redemption_id: 'r1', bill_id: 'x' });
    expect(own.structuredContent.error.code).toBe('invalid_argument');
    const upstream = await call(m.client, 'unlock_promised_points', {
      identifier_name: 'mobile',
      identifier_value: '919000000003',
      source: 'INSTORE',
      event_name: 'TransactionAdd',
      bill_number: 'B-1',
    });
    expect(upstream.structuredContent.error).toMatchObject({ code: '82323282', http_status: 400 });
    const { tools } = await m.client.listTools();
    for (const t of tools) {
      const err = (t.outputSchema?.properties as any)?.error;
      expect(err.properties.code, t.name).toEqual({ type: 'string' });
      expect(Object.keys(err.properties), t.name).toEqual(
        expect.arrayContaining([
          'code',
          'message',
          'hint',
          'retryable',
          'source',
          'outcome',
          'field',
          'http_status',
        ]),
      );
    }
  });
});

describe('output types on the embedded sandbox', () => {
  let m: Connected;
  beforeAll(async () => {
    m = await connectStdio({ CAPILLARY_DATA_DIR: tempDir() });
  });
  afterAll(async () => m?.close());

  it('points are numbers in every tool; a bill id the sandbox answers as -1 ("none") is left out', async () => {
    const r = await call(m.client, 'redeem_points', { customer: { mobile: '919000000001' }, points: 12.5 });
    expect(r.structuredContent.points_redeemed).toBe(12.5);
    const u = await call(m.client, 'update_redemption', {
      redemption_id: r.structuredContent.redemption_id,
      purpose: 'typo fixed',
      entity: { type: 'CUSTOMER', identifier_type: 'mobile', identifier_value: '919000000001' },
    });
    expect(u.isError, JSON.stringify(u.structuredContent)).toBeFalsy();
    expect(u.structuredContent.points_redeemed).toBe(12.5);
    expect(u.structuredContent).not.toHaveProperty('bill_id');
    const v = await call(m.client, 'reverse_redemption', {
      redemption_id: r.structuredContent.redemption_id,
      customer: { mobile: '919000000001' },
      points: 2.5,
    });
    expect(v.structuredContent.points_reversed).toBe(2.5);
  });
});

describe('confirmation and what the client can show', () => {
  const ask = (c: Client) => {
    const seen: string[] = [];
    c.setRequestHandler(ElicitRequestSchema, async (req) => {
      seen.push(String(req.params.message));
      return { action: 'accept', content: { confirm: true } };
    });
    return seen;
  };

  it('a client that declares only URL-mode elicitation is told confirmation is not available (not retryable)', async () => {
    const m = await server(
      { CAPILLARY_DATA_DIR: tempDir(), CAPILLARY_APPROVAL: 'elicit', CAPILLARY_CONFIRM_ABOVE_POINTS: '100' },
      { capabilities: { elicitation: { url: {} } } },
    );
    const seen = ask(m.client);
    const r = await call(m.client, 'redeem_points', { customer: { mobile: '919000000001' }, points: 150 });
    expect(r.isError).toBe(true);
    expect(r.structuredContent.error).toMatchObject({
      code: 'confirmation_unavailable',
      retryable: false,
      source: 'safety',
      outcome: 'not_sent',
    });
    expect(r.structuredContent.error.message).toMatch(/not available/);
    expect(seen).toEqual([]);
  });

  it('a form-capable client is asked; a reversal of "all remaining" names no Infinity', async () => {
    const m = await server(
      { CAPILLARY_DATA_DIR: tempDir(), CAPILLARY_APPROVAL: 'elicit', CAPILLARY_CONFIRM_ABOVE_POINTS: '100' },
      { capabilities: { elicitation: { form: {} } } },
    );
    const seen = ask(m.client);
    const r = await call(m.client, 'redeem_points', { customer: { mobile: '919000000001' }, points: 150 });
    expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
    const v = await call(m.client, 'reverse_redemption', {
      redemption_id: r.structuredContent.redemption_id,
      customer: { mobile: '919000000001' },
    });
    expect(v.isError, JSON.stringify(v.structuredContent)).toBeFalsy();
    expect(seen).toHaveLength(2);
    expect(seen.join('\n')).not.toMatch(/Infinity/);
    const none = await server(
      { CAPILLARY_DATA_DIR: tempDir(), CAPILLARY_APPROVAL: 'elicit', CAPILLARY_CONFIRM_ABOVE_POINTS: '100' },
      { capabilities: {} },
    );
    const refused = await call(none.client, 'reverse_redemption', {
      redemption_id: 'abc',
      customer: { mobile: '919000000001' },
    });
    expect(refused.structuredContent.error.code).toBe('confirmation_unavailable');
    expect(refused.structuredContent.error.message).not.toMatch(/Infinity/);
    expect(refused.structuredContent.error.message).toMatch(/an amount not known in advance/);
  });
});

describe('protocol errors over Streamable HTTP', () => {
  it('the same JSON-RPC errors: unknown tool and malformed params', async () => {
    const srv = await spawnHttp();
    try {
      const c = await connectHttp(srv.url);
      expectOneLine(await rpcError(c.callTool({ name: 'nope', arguments: {} })), -32602);
      expectOneLine(
        await rpcError(c.request({ method: 'tools/call', params: { name: 5 } as any }, CallToolResultSchema)),
        -32602,
      );
      await c.close();
    } finally {
      await srv.stop();
    }
  });
});
