// A view server bound to loopback answers only requests that name a loopback Host: a page of a
// DNS-rebinding site reaches 127.0.0.1 under its own name, which it sends as the Host.
import type { IncomingMessage } from 'node:http';
import { Refusal } from './paths.ts';

export function isLoopback(host: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/i.test(host);
}

/** `host` as a URL writes it (an IPv6 address in brackets). */
export function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** The Host headers a server listening on `host`:`port` answers; null (any) when it is not bound to loopback. */
export function allowedHosts(host: string, port: number): Set<string> | null {
  if (!isLoopback(host)) return null;
  return new Set(['127.0.0.1', 'localhost', '[::1]', urlHost(host).toLowerCase()].map((h) => `${h}:${port}`));
}

/** Refuses (403) a request whose Host is not one of `allowed`. */
export function checkHost(req: IncomingMessage, allowed: Set<string> | null): void {
  if (allowed && !allowed.has((req.headers.host ?? '').toLowerCase())) {
    throw new Refusal(403, `Host "${req.headers.host ?? ''}" is not this server (a loopback server answers only loopback names)`);
  }
}
