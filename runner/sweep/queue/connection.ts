// The Redis behind a queue: parsing --queue URLs, checking the server answers before anything
// else happens (one line naming the URL when it does not), and loading BullMQ only on the code
// paths that use it, so every other command runs where node_modules lacks it.
import { createConnection } from 'node:net';
import { UserError } from '../../../src/errors.ts';

export interface RedisTarget { url: string; host: string; port: number; db: number; username?: string; password?: string; tls: boolean }

/** All sweeps share one BullMQ queue; jobs carry their sweep's name. */
export const QUEUE_NAME = 'earlyphase';

export function parseQueueUrl(url: string): RedisTarget {
  const bad = (why: string) => new UserError(`--queue ${JSON.stringify(url)}: ${why}; expected redis://HOST:PORT[/DB], e.g. redis://127.0.0.1:6379/0`);
  let u: URL;
  try { u = new URL(url); } catch { throw bad('not a URL'); }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw bad(`the scheme must be redis:// (or rediss:// for TLS), not ${u.protocol}//`);
  if (!u.hostname) throw bad('no host');
  const port = u.port === '' ? 6379 : Number(u.port);
  const path = u.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path)) throw bad(`the database "${path}" is not a number`);
  if (u.search || u.hash) throw bad('options after ? or # are not supported');
  return {
    url, host: u.hostname.replace(/^\[|\]$/g, ''), port, db: path === '' ? 0 : Number(path),
    username: u.username ? decodeURIComponent(u.username) : undefined, password: u.password ? decodeURIComponent(u.password) : undefined,
    tls: u.protocol === 'rediss:',
  };
}

/** ioredis options for BullMQ: commands wait through reconnects instead of failing (a Redis restart). */
export function connectionOptions(t: RedisTarget) {
  return { host: t.host, port: t.port, db: t.db, username: t.username, password: t.password, tls: t.tls ? {} : undefined, maxRetriesPerRequest: null };
}

/** Fails with one line naming the URL when nothing answers there (TCP connect within `ms`). */
export async function checkReachable(t: RedisTarget, ms = 3000): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = createConnection({ host: t.host, port: t.port });
    const fail = (why: string) => { s.destroy(); reject(new UserError(`cannot reach Redis at ${t.url} (${why}); start it (e.g. redis-server --port ${t.port}) or fix --queue`)); };
    s.setTimeout(ms, () => fail(`no answer within ${ms / 1000} s`));
    s.once('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
    s.once('connect', () => { s.end(); resolve(); });
  });
}

export type Bullmq = typeof import('bullmq');

export async function loadBullmq(): Promise<Bullmq> {
  try {
    return await import('bullmq');
  } catch (e) {
    throw new UserError(`the job queue needs the npm package bullmq, which cannot be loaded here (${(e as Error).message}); run npm ci`);
  }
}
