// What travels between a tool's mapping, the client and the envelope reader.

/** One HTTP call to Capillary, as a tool describes it. The server adds host, auth and format. */
export interface UpstreamRequest {
  method: 'GET' | 'POST' | 'PUT';
  /** Which configured host: the API host or the request-workflow (CRM) host. */
  host: 'api' | 'workflow';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Adds X-CAP-API-AUTH-ORG-ID and X-CAP-UI-AUTH-TOKEN (set for the tools marked `workflow`). */
  workflowAuth?: boolean;
}

/** Response headers, read by name (case-insensitive), as Headers.get reads them. */
export interface ResponseHeaders {
  get(name: string): string | null;
}

export interface UpstreamResponse {
  status: number;
  headers: ResponseHeaders;
  text: string;
  /** Parsed body; undefined when the body was empty or not JSON. */
  json: unknown;
}

export interface RequestPreview {
  method: string;
  url: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body?: unknown;
}

export interface SendOptions {
  /** A mutating call is never re-sent once it may have reached the API... */
  mutating: boolean;
  /**
   * ...unless the API deduplicates it by a key it carries (redeem's external_reference_number):
   * then a 429/503 with Retry-After and a 521 are waited out and the same request sent again.
   * A money call without such a key is never sent twice.
   */
  resendable?: boolean;
  signal?: AbortSignal;
  /** Called with a note each time the client waits to retry (for progress and logs). */
  onRetry?: (note: string) => void;
}
