/** ffmpeg's raw video output cut into frames: the bytes of a pipe arrive in chunks that ignore frame edges. */
export class RawFrameCutter {
  #frame: Uint8Array;
  #filled = 0;

  constructor(readonly frameBytes: number) {
    this.#frame = new Uint8Array(frameBytes);
  }

  /** The frames `chunk` completes, each a fresh `Uint8Array` of `frameBytes` (copied once out of the chunks). */
  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(this.frameBytes - this.#filled, chunk.length - offset);
      this.#frame.set(chunk.subarray(offset, offset + take), this.#filled);
      this.#filled += take;
      offset += take;
      if (this.#filled === this.frameBytes) {
        frames.push(this.#frame);
        this.#frame = new Uint8Array(this.frameBytes);
        this.#filled = 0;
      }
    }
    return frames;
  }

  /** Bytes of a frame begun and not completed (non-zero at the end means the output ended inside a frame). */
  get partialBytes(): number {
    return this.#filled;
  }
}
