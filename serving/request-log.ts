import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * One line per request, at debug unless it failed or was slow (then info; 5xx errors also
 * reach the error handler's log at error). A steady stream of ingest requests must not bury
 * what matters. The line names the route pattern, not the URL: query values
 * (`where.key=…`) may be personal data.
 */
export class RequestLog extends LogController {
  readonly #slowMs: number;

  constructor(slowMs: number) {
    super({});
    this.#slowMs = slowMs;
  }

  override incomingRequest(): void {
    // The completed line says all of it.
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const ms = Math.round(reply.elapsedTime);
    const entry = { method: request.method, route: request.routeOptions.url ?? 'unknown', status: reply.statusCode, ms };
    if (error) reply.log.error({ ...entry, err: error }, 'request errored');
    else if (ms >= this.#slowMs) reply.log.info(entry, 'slow request');
    else if (reply.statusCode >= 400) reply.log.info(entry, 'request refused');
    else reply.log.debug(entry, 'request');
  }
}
