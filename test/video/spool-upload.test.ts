import test from 'ava';
import { readFile, stat } from 'node:fs/promises';
import { spoolUpload } from '../../server/src/video/spool-upload.js';

/** Chunks as a client's messages deliver them: one at a time, asynchronously. */
async function* chunksOf(...chunks: number[][]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) yield await Promise.resolve(new Uint8Array(chunk));
}

test('an upload abandoned while a write is in flight fails alone, without an unhandled stream error', async (t) => {
  const abandoned = new Error('the client went away');
  async function* chunks() {
    yield new Uint8Array(1024);
    await new Promise((resolve) => setTimeout(resolve, 20)); // the file is open now
    yield new Uint8Array(1024); // write() returns at once; the write is still in flight when ...
    throw abandoned; // ... the upload is abandoned and the file destroyed
  }
  for (let i = 0; i < 5; i++) {
    await t.throwsAsync(spoolUpload(chunks(), 64 * 1024 * 1024), { is: abandoned });
  }
  // Writes that completed after the file was destroyed would surface here as an uncaught exception.
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.pass();
});

test('a spooled upload holds exactly the bytes sent, and remove() deletes it', async (t) => {
  const upload = await spoolUpload(chunksOf([1, 2, 3], [4, 5]), 1024);
  t.is(upload.bytes, 5);
  t.deepEqual([...(await readFile(upload.path))], [1, 2, 3, 4, 5]);
  await upload.remove();
  await t.throwsAsync(stat(upload.path), { code: 'ENOENT' });
});

test('past the limit or empty, the upload is INVALID_ARGUMENT', async (t) => {
  await t.throwsAsync(spoolUpload(chunksOf(new Array<number>(10).fill(0)), 5), {
    message: /exceeds this server's limit of 5 bytes/,
  });
  await t.throwsAsync(spoolUpload(chunksOf(), 5), { message: /the upload is empty/ });
});
