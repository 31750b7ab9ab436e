/**
 * Progress on stderr: a redrawn bar on a TTY (frames done of total, fps, ETA), plain lines every few
 * seconds otherwise (CI logs, pipes).
 */
export class Progress {
  readonly #started = performance.now();
  #done = 0;
  #total = 0;
  #lastDraw = 0;
  readonly #tty: boolean;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {
    this.#tty = stream.isTTY === true;
  }

  update(done: number, total: number): void {
    this.#done = done;
    this.#total = total;
    const now = performance.now();
    if (now - this.#lastDraw < (this.#tty ? 100 : 5000)) return;
    this.#lastDraw = now;
    this.#draw(false);
  }

  finish(): void {
    this.#draw(true);
  }

  #draw(final: boolean): void {
    if (this.quiet) return;
    const seconds = (performance.now() - this.#started) / 1000;
    const fps = seconds > 0 ? this.#done / seconds : 0;
    const known = this.#total > 0;
    const eta = known && fps > 0 ? Math.max(0, (this.#total - this.#done) / fps) : undefined;
    const counts = known ? `${this.#done}/${this.#total}` : `${this.#done}`;
    const tail = `${counts} frames  ${fps.toFixed(1)} fps${eta !== undefined && !final ? `  ETA ${eta.toFixed(0)} s` : ''}`;
    if (this.#tty) {
      const width = 30;
      const filled = known ? Math.min(width, Math.round((this.#done / this.#total) * width)) : 0;
      const bar = known ? `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ` : '';
      this.stream.write(`\r${this.label} ${bar}${tail}\u001b[K${final ? '\n' : ''}`);
    } else {
      this.stream.write(`${this.label} ${tail}\n`);
    }
  }
}
