/**
 * A region of the terminal redrawn in place (the live view of `follow`): each draw moves the
 * cursor back up over the previous frame and clears down from there, with Node's readline helpers.
 * Only the last `rows - 1` lines of a frame are drawn, so a frame taller than the window never
 * scrolls lines out of reach of the next redraw. On a pipe there is no region: see `eventLine`.
 */
import { clearScreenDown, cursorTo, moveCursor } from 'node:readline';

export class LiveRegion {
  private drawn = 0;
  private lastFrame = '';

  constructor(private readonly out: NodeJS.WriteStream) {}

  get columns(): number {
    return this.out.columns || 100;
  }

  draw(lines: string[]): void {
    const rows = Math.max(3, (this.out.rows || 40) - 1);
    const shown = lines.length > rows ? lines.slice(-rows) : lines;
    const text = shown.join('\n');
    if (text === this.lastFrame) return;
    this.lastFrame = text;
    if (this.drawn > 0) {
      moveCursor(this.out, 0, -(this.drawn - 1));
      cursorTo(this.out, 0);
      clearScreenDown(this.out);
    }
    this.out.write(text);
    this.drawn = shown.length;
  }

  /** Leaves the last frame on screen and moves below it. */
  done(): void {
    if (this.drawn > 0) this.out.write('\n');
    this.drawn = 0;
    this.lastFrame = '';
  }
}
