import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { invalidArgument } from '../errors.js';

export interface SpooledUpload {
  readonly path: string;
  readonly bytes: number;
  /** Deletes the file and its folder. */
  remove(): Promise<void>;
}

/**
 * Writes an uploaded video to a temporary file. Containers such as MP4 keep their index at the end and
 * need a seekable input, so uploads are decoded from disk, not from a pipe. Writes wait for the disk
 * (backpressure to the client); past `maxBytes` the upload is refused.
 */
export async function spoolUpload(
  chunks: AsyncIterable<Uint8Array>,
  maxBytes: number,
  /** The size the client declared (`UploadSource.size_bytes`); 0 = not declared. */
  declaredBytes = 0,
): Promise<SpooledUpload> {
  if (declaredBytes > maxBytes) {
    throw invalidArgument(`size_bytes ${declaredBytes} is over this server's upload limit of ${maxBytes} bytes`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'fusionseg-upload-'));
  const path = join(dir, 'upload');
  const remove = () => rm(dir, { recursive: true, force: true });
  const file = createWriteStream(path);
  // A write that fails (disk full) or completes after the upload was abandoned must not be an unhandled
  // 'error' event: that would end the process. The failure is taken up where the loop waits.
  let writeError: Error | undefined;
  file.on('error', (error) => (writeError ??= error));
  let bytes = 0;
  try {
    for await (const chunk of chunks) {
      bytes += chunk.length;
      if (bytes > maxBytes) throw invalidArgument(`the upload exceeds this server's limit of ${maxBytes} bytes`);
      if (declaredBytes > 0 && bytes > declaredBytes) {
        throw invalidArgument(`the upload is longer than its size_bytes (${declaredBytes})`);
      }
      if (writeError !== undefined) throw writeError;
      if (!file.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            file.off('drain', done);
            file.off('error', done);
            resolve();
          };
          file.on('drain', done);
          file.on('error', done);
        });
      }
    }
    file.end();
    await finished(file);
    if (writeError !== undefined) throw writeError;
    if (bytes === 0) throw invalidArgument('the upload is empty: send the video as chunk messages after "open"');
    if (declaredBytes > 0 && bytes < declaredBytes) {
      throw invalidArgument(`the upload is truncated: ${bytes} of its size_bytes ${declaredBytes} arrived`);
    }
    return { path, bytes, remove };
  } catch (error: unknown) {
    file.destroy();
    await remove();
    throw error;
  }
}
