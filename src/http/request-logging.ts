import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { pinoHttp } from 'pino-http';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';

/** SPEC: a client's own request id is kept when well formed, else a new one is made. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Health checks and scrapes every few seconds would drown the log at info: they log at debug, whatever their status. */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
/**
 * An accepted webhook is logged once at info, by the webhook route ('webhook received', with its request id, outcome
 * and counts): its request line goes to debug. Meta sends thousands an hour; two lines each doubled the logging cost.
 */
const WEBHOOK_PATH = '/api/webhooks/instagram';

/** The request id of a request: its `X-Request-Id` when well formed, else a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * One log line per request, with its id, method, path (never the query: it can carry the verify token), status,
 * time and client address (honouring TRUST_PROXY); `req.log` carries the id for every line logged about the request;
 * every response carries `X-Request-Id`.
 */
export function requestLogging(logger: Logger): RequestHandler {
  return pinoHttp({
    logger,
    quietReqLogger: true,
    genReqId: (req: IncomingMessage, res: ServerResponse) => {
      const id = requestIdOf(req);
      res.setHeader('X-Request-Id', id);
      return id;
    },
    customProps: (req: IncomingMessage) => ({ clientAddress: (req as Request).ip }),
    customLogLevel: (req, res, err) => {
      const path = req.url?.split('?')[0] ?? '';
      if (QUIET_PATHS.has(path)) return 'debug';
      if (err !== undefined || res.statusCode >= 500) return 'error';
      if (res.statusCode === 200 && req.method === 'POST' && path === WEBHOOK_PATH) return 'debug';
      return res.statusCode >= 400 ? 'warn' : 'info';
    },
    serializers: {
      req: (req: { method: string; url: string }) => ({ method: req.method, url: req.url.split('?')[0] }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  }) as unknown as RequestHandler;
}

/**
 * `instantchat_http_request_duration_seconds{method, route, status}`: `route` is the matched pattern (bounded
 * cardinality), `static` for files, `unmatched` for 404s; never the raw path.
 */
export function requestDuration(metrics: Metrics): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const path = req.route === undefined ? undefined : String((req.route as { path: unknown }).path);
      const route =
        path !== undefined ? (path === '/' && req.baseUrl !== '' ? req.baseUrl : `${req.baseUrl}${path}`) : res.statusCode === 404 ? 'unmatched' : 'static';
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.httpRequestDuration.observe({ method: req.method, route, status: String(res.statusCode) }, seconds);
    });
    next();
  };
}
