// The floor for this stack: the smallest useful MCP server the SDK makes, one tool. Over stdio by
// default; with `--http --port N`, over stateless Streamable HTTP (plain JSON answers, one SDK
// transport per POST, the server reused: requests arrive one at a time in the bench).
// The bench bundles it with esbuild (same options as scripts/build.mjs) and times its cold start
// and one tools/call, next to the real server.
import { createServer } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const server = new McpServer({ name: 'minimal', version: '1.0.0' });
server.registerTool(
  'echo',
  {
    title: 'Echo',
    description: 'Returns the text it is given.',
    inputSchema: { text: z.string().describe('Text to echo') },
  },
  async ({ text }) => ({ content: [{ type: 'text', text }] }),
);

const port = process.argv.indexOf('--port');
if (process.argv.includes('--http') && port > 0) {
  createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    if (server.isConnected()) await server.close();
    await server.connect(transport);
    await transport.handleRequest(req, res, JSON.parse(Buffer.concat(chunks).toString('utf8')));
  }).listen(Number(process.argv[port + 1]), '127.0.0.1');
} else {
  await server.connect(new StdioServerTransport());
}
