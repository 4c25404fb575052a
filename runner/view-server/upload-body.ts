// A saved file's body, streamed from the request to a file one socket chunk at a time: the
// socket is paused while a chunk is written, so a body takes one chunk of memory whatever its size.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FileHandle } from 'node:fs/promises';
import { createFileInside } from '../storage/contained-fs.ts';
import { Refusal } from './paths.ts';

// A whole checkpoint of the largest model (ResNet-20 weights, momenta and masks) is a few MB; 512 MiB
// leaves room for any run file while stopping a runaway upload from filling the memory.
export const MAX_PUT_BYTES = 512 * 2 ** 20;

export interface ReceivedBody { bytes: number; sha256: string }

/** The request body written to a new file `tmp` (created inside `folder`; `name` is what errors call it), synced and closed. */
export async function receiveToFile(req: IncomingMessage, tmp: string, folder: string, name: string): Promise<ReceivedBody> {
  const fh = await createFileInside(tmp, folder, name);
  try {
    const body = await receiveBody(req, fh);
    await fh.sync();
    return body;
  } finally {
    await fh.close();
  }
}

/** write(2) may write less than asked (a full disk, a signal); the rest follows or the error does. */
async function writeAll(fh: FileHandle, c: Buffer): Promise<void> {
  for (let at = 0; at < c.length;) at += (await fh.write(c, at, c.length - at)).bytesWritten;
}

/**
 * Streams the request body into `fh`, one chunk at a time (the socket is paused while a chunk is
 * written), hashing it; refused (413) past MAX_PUT_BYTES, rejected when the client goes away.
 */
function receiveBody(req: IncomingMessage, fh: FileHandle): Promise<ReceivedBody> {
  const hash = createHash('sha256');
  return new Promise((resolveBody, reject) => {
    let size = 0, settled = false, writing: Promise<void> = Promise.resolve();
    const settle = (e?: Error) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      if (e) { req.resume(); reject(e); } // drain the rest so the refusal can still be sent
      else resolveBody({ bytes: size, sha256: hash.digest('hex') });
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > MAX_PUT_BYTES) { settle(new Refusal(413, `a saved file may be at most ${MAX_PUT_BYTES / 2 ** 20} MiB`)); return; }
      hash.update(c);
      req.pause();
      writing = writeAll(fh, c).then(() => { if (!settled) req.resume(); }, (e: Error) => settle(e));
    };
    req.on('data', onData);
    req.on('end', () => { void writing.then(() => settle()); });
    req.on('close', () => { if (!req.complete) settle(new Refusal(400, 'the upload was cut off')); });
  });
}
