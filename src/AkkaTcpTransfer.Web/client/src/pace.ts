// Pacing of requests to the rates the server announced in Welcome (PROTOCOL.md, "Pace"): token buckets
// that start full (`burst` at once, then `rate` per second). Paced requests leave in the order they were
// queued: a line to a room must not overtake the JoinRoom before it. Nothing here spins: a timer wakes
// the queue when the head's bucket has a token again.

/** Refill a little slower than announced, so that jitter on the way never makes us look early. */
const MARGIN = 0.95;

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly rate: number;
  private readonly burst: number;

  constructor(rate: number, burst: number, now: number) {
    this.rate = Math.max(1, rate) * MARGIN;
    this.burst = Math.max(1, burst);
    this.tokens = this.burst;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
      this.last = now;
    }
  }

  /** Takes a token if there is one. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  /** Milliseconds until a token is there. */
  wait(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.rate) * 1000);
  }
}

import type { Bytes } from "./codec";

export type BucketName = "chat" | "who" | "offer" | "room" | "history";

export interface PacedItem {
  bucket: BucketName;
  frame: Bytes;
  /** Called right after the frame went to the socket. */
  sent?: () => void;
  /** Set to drop the item while it still waits. */
  dropped?: boolean;
}

export class Pacer {
  private readonly queue: PacedItem[] = [];
  private head = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    private readonly buckets: Record<BucketName, TokenBucket>,
    private readonly send: (frame: Bytes) => boolean,
  ) {}

  /** Number of items waiting. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  push(item: PacedItem): void {
    if (this.closed) return;
    this.queue.push(item);
    if (this.timer === undefined) this.drain();
  }

  private drain(): void {
    this.timer = undefined;
    const now = performance.now();
    while (this.head < this.queue.length && !this.closed) {
      const item = this.queue[this.head]!;
      if (item.dropped) { this.head++; continue; }
      const bucket = this.buckets[item.bucket];
      if (!bucket.take(now)) {
        this.timer = setTimeout(() => this.drain(), Math.max(1, bucket.wait(now)));
        break;
      }
      this.head++;
      if (!this.send(item.frame)) break;
      item.sent?.();
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Stops and returns what never left. */
  close(): PacedItem[] {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const left = this.queue.slice(this.head).filter((i) => !i.dropped);
    this.queue.length = 0;
    this.head = 0;
    return left;
  }
}
