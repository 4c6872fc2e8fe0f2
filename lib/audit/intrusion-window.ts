/**
 * Bounded state for the intrusion rules: per key (a principal, an address, a token), the times of its
 * most recent events — at most `cap` of them, and only those within the window — and when it last
 * alerted. At most `maxKeys` keys are kept: the one touched least recently goes first, and keys idle for
 * longer than the window are let go as events arrive. Memory is keys × cap, whatever the event count.
 */

interface Track {
  /** Event times (ms), oldest first, within the window; at most `cap`. */
  times: number[];
  /** What each counted event was (for "the same thing twice counts once"). */
  marks: string[];
  /** Until when this key raises no new alert (ms). */
  quietUntil: number;
  /** The time of the last event seen (ms). */
  last: number;
}

export class SlidingWindows {
  private readonly tracks = new Map<string, Track>();

  constructor(
    private readonly windowMs: number,
    private readonly cap: number,
    private readonly maxKeys: number,
  ) {}

  get size(): number {
    return this.tracks.size;
  }

  /**
   * Counts an event of `key` at `t`; an event whose `mark` is already in the window is not counted
   * again. Returns how many events the window holds now (at most `cap`).
   */
  add(key: string, t: number, mark?: string): number {
    this.expireIdle(t);
    const track = this.touch(key, t);
    const from = t - this.windowMs;
    while (track.times.length > 0 && track.times[0]! <= from) {
      track.times.shift();
      track.marks.shift();
    }
    if (mark !== undefined && track.marks.includes(mark)) return track.times.length;
    track.times.push(t);
    track.marks.push(mark ?? '');
    if (track.times.length > this.cap) {
      track.times.shift();
      track.marks.shift();
    }
    return track.times.length;
  }

  /** The first time still counted for `key`. */
  firstTime(key: string): number | undefined {
    return this.tracks.get(key)?.times[0];
  }

  /** Whether `key` may alert at `t`; when it may, it is quiet for a window from now on. */
  arm(key: string, t: number): boolean {
    const track = this.tracks.get(key);
    if (!track || t < track.quietUntil) return false;
    track.quietUntil = t + this.windowMs;
    return true;
  }

  private touch(key: string, t: number): Track {
    let track = this.tracks.get(key);
    if (track) this.tracks.delete(key);
    else {
      track = { times: [], marks: [], quietUntil: 0, last: t };
      if (this.tracks.size >= this.maxKeys) this.tracks.delete(this.tracks.keys().next().value!);
    }
    track.last = Math.max(track.last, t);
    this.tracks.set(key, track);
    return track;
  }

  /** Keys untouched for longer than the window (and not quiet any more) hold nothing: let go. */
  private expireIdle(t: number): void {
    for (const [key, track] of this.tracks) {
      if (track.last > t - this.windowMs || track.quietUntil > t) return;
      this.tracks.delete(key);
    }
  }
}
