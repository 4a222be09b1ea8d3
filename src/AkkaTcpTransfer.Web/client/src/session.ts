// One session with the server over a WebSocket at /ws that carries exactly the TCP byte stream of
// PROTOCOL.md (message boundaries mean nothing). Hello/Welcome, frame reassembly, pacing, pings, Goodbye.

import {
  type Bytes, type ClientFrame, type Frame, type Welcome, FrameReader, PROTOCOL_VERSION, ProtocolError, decode, encode,
} from "./codec";
import { type BucketName, type PacedItem, Pacer, TokenBucket } from "./pace";

/** The largest frame we accept: a 64 KiB chunk plus headers, as the reference client. */
export const OUR_MAX_FRAME = 73728;
const PING_AFTER_MS = 15_000;
const SILENT_SERVER_MS = 75_000;
const WELCOME_TIMEOUT_MS = 20_000;

export type EndKind = "refused" | "goodbye" | "lost" | "violation" | "left";

export interface SessionEnd {
  kind: EndKind;
  code?: number;
  reason: string;
}

export interface SessionEvents {
  welcome(w: Welcome): void;
  frame(f: Frame): void;
  ended(e: SessionEnd): void;
}

export function webSocketUrl(): string {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;
}

export class Session {
  private readonly ws: WebSocket;
  private readonly reader = new FrameReader(OUR_MAX_FRAME);
  private pacer: Pacer | undefined;
  private lastSent = 0;
  private lastReceived = performance.now();
  private ticker: ReturnType<typeof setInterval> | undefined;
  private welcomeTimer: ReturnType<typeof setTimeout> | undefined;
  private over = false;
  welcomed: Welcome | undefined;

  constructor(
    name: string,
    token: string,
    resumeKey: Uint8Array,
    private readonly events: SessionEvents,
  ) {
    this.ws = new WebSocket(webSocketUrl());
    this.ws.binaryType = "arraybuffer";
    this.ws.onopen = () => {
      this.sendFrame({ type: "Hello", version: PROTOCOL_VERSION, maxFrame: OUR_MAX_FRAME, name, token, resumeKey });
    };
    this.ws.onmessage = (e: MessageEvent) => this.received(e.data);
    this.ws.onclose = (e: CloseEvent) => {
      if (this.welcomed) this.end({ kind: "lost", reason: "the connection to the server was lost" });
      else this.end({ kind: "lost", reason: `could not reach the server${e.code === 1006 ? "" : ` (WebSocket close ${e.code})`}` });
    };
    this.welcomeTimer = setTimeout(
      () => this.abort({ kind: "lost", reason: "the server did not answer in time" }), WELCOME_TIMEOUT_MS);
  }

  get open(): boolean {
    return !this.over && this.ws.readyState === WebSocket.OPEN;
  }

  /** Bytes handed to the socket and not yet on their way. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** The largest frame length the server takes. */
  get serverMaxFrame(): number {
    return this.welcomed?.maxFrame ?? 17408;
  }

  /** Sends a whole encoded frame now (frames that are not paced). */
  sendBytes(frame: Bytes): boolean {
    if (!this.open) return false;
    if (frame.length - 4 > this.serverMaxFrame) throw new RangeError("frame above the server's limit");
    this.ws.send(frame);
    this.lastSent = performance.now();
    return true;
  }

  sendFrame(frame: ClientFrame): boolean {
    return this.sendBytes(encode(frame));
  }

  /** Queues a paced request (Say, WhoRequest, Offer, room requests, HistoryRequest). */
  paced(bucket: BucketName, frame: ClientFrame, sent?: () => void): PacedItem {
    const item: PacedItem = { bucket, frame: encode(frame) };
    if (sent) item.sent = sent;
    if (item.frame.length - 4 > this.serverMaxFrame) throw new RangeError("frame above the server's limit");
    this.pacer?.push(item);
    return item;
  }

  get waiting(): number {
    return this.pacer?.waiting ?? 0;
  }

  /** Ends the session on purpose: Goodbye code 0, then close (the socket sends what it holds first). */
  leave(reason: string): void {
    if (this.over) return;
    if (this.open && this.welcomed) this.sendFrame({ type: "Goodbye", code: 0, reason });
    this.abort({ kind: "left", code: 0, reason });
  }

  private abort(e: SessionEnd): void {
    this.end(e);
    try {
      this.ws.close(1000);
    } catch {
      /* already closing */
    }
  }

  private end(e: SessionEnd): void {
    if (this.over) return;
    this.over = true;
    if (this.ticker !== undefined) clearInterval(this.ticker);
    if (this.welcomeTimer !== undefined) clearTimeout(this.welcomeTimer);
    this.pacer?.close();
    this.events.ended(e);
  }

  private received(data: unknown): void {
    if (this.over) return;
    if (!(data instanceof ArrayBuffer)) {
      this.violation("a text message on the WebSocket");
      return;
    }
    this.lastReceived = performance.now();
    try {
      this.reader.push(new Uint8Array(data));
      for (let body = this.reader.next(); body !== null && !this.over; body = this.reader.next()) {
        this.dispatch(decode(body));
      }
    } catch (err) {
      if (err instanceof ProtocolError) this.violation(err.message);
      else throw err;
    }
  }

  private violation(why: string): void {
    if (this.welcomed && this.open) this.sendFrame({ type: "Goodbye", code: 7, reason: why });
    this.abort({ kind: "violation", code: 7, reason: `protocol violation by the server: ${why}` });
  }

  private dispatch(f: Frame): void {
    if (!this.welcomed) {
      if (f.type === "Refused") {
        this.abort({ kind: "refused", code: f.code, reason: f.reason });
      } else if (f.type === "Welcome") {
        this.onWelcome(f);
      } else {
        throw new ProtocolError(`${f.type} before Welcome`);
      }
      return;
    }
    switch (f.type) {
      case "Welcome":
        throw new ProtocolError("a second Welcome");
      case "Refused":
        this.abort({ kind: "refused", code: f.code, reason: f.reason });
        return;
      case "Goodbye":
        this.abort({ kind: "goodbye", code: f.code, reason: f.reason });
        return;
      case "Ping":
        // Timers of a hidden tab may be throttled to once a minute: answering the server's pings keeps
        // the session alive whatever our own timer does.
        if (performance.now() - this.lastSent > 10_000) this.sendFrame({ type: "Ping" });
        return;
    }
    try {
      this.events.frame(f);
    } catch (err) {
      if (err instanceof ProtocolError) throw err;
      console.error(err);
    }
  }

  private onWelcome(w: Welcome): void {
    if (w.version !== PROTOCOL_VERSION) throw new ProtocolError(`Welcome for version ${w.version}`);
    if (this.welcomeTimer !== undefined) clearTimeout(this.welcomeTimer);
    this.welcomed = w;
    const now = performance.now();
    this.pacer = new Pacer(
      {
        chat: new TokenBucket(w.chatRate, w.chatBurst, now),
        who: new TokenBucket(w.whoRate, w.whoBurst, now),
        offer: new TokenBucket(Math.min(w.offerRate, 800), w.offerBurst, now),
        room: new TokenBucket(w.roomRate, w.roomBurst, now),
        history: new TokenBucket(w.historyRate, w.historyBurst, now),
      },
      (frame) => this.sendBytes(frame),
    );
    this.lastSent = now;
    this.ticker = setInterval(() => this.tick(), 1000);
    try {
      this.events.welcome(w);
    } catch (err) {
      console.error(err);
    }
  }

  private tick(): void {
    const now = performance.now();
    if (now - this.lastReceived > SILENT_SERVER_MS) {
      this.abort({ kind: "lost", reason: "the server stopped answering" });
      return;
    }
    if (now - this.lastSent >= PING_AFTER_MS) this.sendFrame({ type: "Ping" });
  }
}
