// File transfers in both directions (PROTOCOL.md, "File transfer" and "Kept files"), one row each.
// Sending: Offer, then on Accept a Start at offset 0 (a page cannot resume), chunks of at most
// min(max_chunk, 64 KiB) read in 1 MiB blocks, never more than window' beyond the last Ack nor while
// the socket holds more than 2 MiB, then Done with the SHA-256. Receiving: Accept at 0, every chunk
// written to a download sink (sink.ts: a stream into the downloads, the browser's private storage, or
// memory) and hashed, Ack once written, at least every min(window'/4, 128 KiB), Verified or Fail.

import { type IHasher, createSHA256 } from "hash-wasm";
import {
  type Accept, type Bytes, type ClientFrame, type Delivery, type Frame, type Offer, encodeChunk, toHex,
} from "./codec";
import { bdi, button, el, $ } from "./dom";
import { formatBytes, formatEta, formatRate, visible } from "./format";
import type { BucketName, PacedItem } from "./pace";
import { badPath, lastPart } from "./paths";
import { Refusal, type Sink, openSink, refusal } from "./sink";

const BLOCK = 1 << 20;
const MAX_CHUNK = 65536;
const MAX_OUT_WINDOW = 8 << 20;
const IN_WINDOW = 4 << 20;
/** Received bytes are written at most this many at a time (what came while the last write went on). */
const WRITE_BATCH = 1 << 20;
const BUFFERED_LIMIT = 2 << 20;
/** A server relays at most 8 transfers of one client at once; we offer no more than that at a time. */
const MAX_OUT = 8;
/** Receivers accept at most 16 incoming transfers at once per connection. */
const MAX_IN = 16;
const MAX_ROWS = 500;
const OFFER_TIMEOUT = 90_000;
const ANSWER_TIMEOUT = 60_000;
const START_TIMEOUT = 30_000;
const DATA_TIMEOUT = 60_000;
const VERIFY_TIMEOUT = 120_000;
/** A .NET tick count (100 ns since 0001-01-01) of the Unix epoch. */
const EPOCH_TICKS = 621355968000000000n;

export type State =
  | "offered" | "waiting" | "sending" | "receiving" | "verified" | "held" | "rejected" | "cancelled" | "failed";
const ENDED: ReadonlySet<State> = new Set(["verified", "held", "rejected", "cancelled", "failed"]);

/** What the transfers need of the session. */
export interface Link {
  readonly open: boolean;
  readonly bufferedAmount: number;
  readonly serverMaxFrame: number;
  sendFrame(f: ClientFrame): boolean;
  sendBytes(b: Bytes): boolean;
  paced(bucket: BucketName, f: ClientFrame, sent?: () => void): PacedItem;
}

export interface Outbound {
  file: File;
  /** Relative path: the file's name, or album/sub/b.bin inside a folder. */
  path: string;
}

const DELIVERY_STATES = ["", "waiting", "offered", "receiving", "delivered", "rejected", "failed", "expired"];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let hasherModule: Promise<unknown> | undefined;
/** Compiles the SHA-256 module early, so the first transfer does not wait for it. */
export function warmHasher(): void {
  hasherModule ??= createSHA256().catch((e: unknown) => console.error(e));
}

async function newHasher(): Promise<IHasher> {
  const h = await createSHA256();
  h.init();
  return h;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

abstract class Transfer {
  readonly li = el("li", "transfer");
  private readonly progress = el("progress", "progress");
  private readonly bytesEl = el("span", "bytes");
  private readonly rateEl = el("span", "rate");
  private readonly etaEl = el("span", "eta");
  private readonly actions = el("div", "actions");
  private readonly noteEl = el("p", "note");
  private samples: [number, number][] = [];
  state: State;
  bytes = 0;
  began = 0;
  endedAt = 0;
  timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    public id: number,
    readonly direction: "in" | "out",
    readonly path: string,
    readonly peer: string,
    readonly size: number,
    state: State,
  ) {
    this.state = state;
    this.li.dataset["id"] = String(id);
    this.li.dataset["direction"] = direction;
    const head = el("div", "head");
    head.append(el("span", "dir", direction === "out" ? "to" : "from"), " ", bdi(peer, "peer"), " ", bdi(path, "file"),
      " ", el("span", "size", `(${formatBytes(size)})`));
    this.progress.max = Math.max(1, size);
    this.progress.value = 0;
    const stats = el("div", "stats");
    stats.append(this.bytesEl, " ", this.rateEl, " ", this.etaEl);
    this.noteEl.hidden = true;
    this.li.append(head, this.progress, stats, this.noteEl, this.actions);
    this.setState(state);
    this.show(performance.now());
  }

  get ended(): boolean {
    return ENDED.has(this.state);
  }

  setId(id: number): void {
    this.id = id;
    this.li.dataset["id"] = String(id);
  }

  setState(state: State, reason?: string): void {
    this.state = state;
    this.li.dataset["state"] = state;
    if (this.ended) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.endedAt = performance.now();
      this.show(this.endedAt);
    }
    let r = this.li.querySelector(".reason");
    if (reason !== undefined) {
      if (!r) this.noteEl.after((r = el("p", "reason")));
      r.textContent = visible(reason);
    }
    this.buttons();
  }

  note(text: string): void {
    this.noteEl.hidden = text === "";
    this.noteEl.replaceChildren(text);
  }

  /** Accept and Reject while an incoming offer waits for the person; Cancel while it moves. */
  private buttons(): void {
    const want: string[] = [];
    if (this.state === "offered") want.push("accept", "reject");
    if (this.state === "waiting" || this.state === "sending" || this.state === "receiving") want.push("cancel");
    const have = [...this.actions.children].map((b) => b.className);
    if (have.join() === want.join()) return;
    const label: Record<string, string> = { accept: "Accept", reject: "Reject", cancel: "Cancel" };
    this.actions.replaceChildren(...want.map((w) => button(label[w]!, w)));
  }

  /** Bytes moved and acknowledged so far; shown at the next refresh. */
  moved(bytes: number): void {
    this.bytes = bytes;
  }

  show(now: number): void {
    this.progress.value = Math.min(this.bytes, this.size) || (this.state === "verified" && this.size === 0 ? 1 : 0);
    this.bytesEl.textContent = `${formatBytes(this.bytes)} of ${formatBytes(this.size)}`;
    if (this.ended || this.began === 0) {
      const secs = ((this.endedAt || now) - this.began) / 1000;
      this.rateEl.textContent = this.began > 0 && secs > 0 && this.bytes > 0 ? `${formatRate(this.bytes / secs)} average` : "";
      this.etaEl.textContent = "";
      return;
    }
    this.samples.push([now, this.bytes]);
    while (this.samples.length > 2 && now - this.samples[0]![0] > 3000) this.samples.shift();
    const [t0, b0] = this.samples[0]!;
    const rate = now > t0 ? ((this.bytes - b0) * 1000) / (now - t0) : 0;
    this.rateEl.textContent = formatRate(rate);
    this.etaEl.textContent = rate > 0 ? `${formatEta((this.size - this.bytes) / rate)} left` : "";
  }
}

class Outgoing extends Transfer {
  offerItem: PacedItem | undefined;
  /** Waits for its turn: no more than MAX_OUT offers are out at once. */
  inLine = true;
  offered = false;
  window = 0;
  chunk = 0;
  sent = 0;
  acked = 0;
  digest: Uint8Array | undefined;
  fileId: string | undefined;
  deliveries: HTMLUListElement | undefined;
  wake: (() => void) | undefined;
  lastAck = 0;

  constructor(id: number, readonly file: File, path: string, readonly to: string) {
    super(id, "out", path, to, file.size, "waiting");
  }

  /** Wakes the sending loop (an Ack came, or the transfer ended). */
  poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

class Incoming extends Transfer {
  sink: Sink | undefined;
  hasher: IHasher | undefined;
  window = 0;
  ackEvery = 1;
  received = 0;
  written = 0;
  ackSent = 0;
  started = false;
  /** Chunks received and not yet written, and whether a write of them is on the chain. */
  queue: Uint8Array[] = [];
  flushing = false;
  chain: Promise<void> = Promise.resolve();
  lastData = 0;

  constructor(readonly offer: Offer) {
    super(offer.id, "in", offer.file, offer.from, offer.size, "offered");
  }
}

export class Transfers {
  private link: Link | undefined;
  private readonly out = new Map<number, Outgoing>();
  private readonly inc = new Map<number, Incoming>();
  private readonly queued: Outgoing[] = [];
  private readonly all = new Set<Transfer>();
  private readonly list = $("transfers") as HTMLUListElement;
  private readonly kept = $("kept") as HTMLUListElement;
  private readonly keptSection = $("kept-files");
  private readonly byFileId = new Map<string, HTMLUListElement>();
  private refresher: ReturnType<typeof setInterval> | undefined;

  constructor() {
    this.list.addEventListener("click", (e) => {
      const b = (e.target as Element).closest("button");
      const li = b?.closest("li.transfer") as HTMLElement | null;
      if (!b || !li) return;
      const t = [...this.all].find((x) => x.li === li);
      if (!t) return;
      if (b.classList.contains("accept") && t instanceof Incoming) void this.accept(t);
      else if (b.classList.contains("reject") && t instanceof Incoming) this.decline(t, "declined");
      else if (b.classList.contains("cancel")) this.cancel(t);
    });
  }

  attach(link: Link): void {
    this.link = link;
    this.refresher ??= setInterval(() => this.refresh(), 100);
  }

  /** The session ended: nothing that was moving can go on (a page cannot resume). */
  detach(reason: string): void {
    this.link = undefined;
    const why = `${reason}: this page cannot resume a transfer, start it again`;
    for (const t of this.all) {
      if (t.ended) continue;
      if (t instanceof Incoming) t.sink?.abort(why);
      t.setState("failed", why);
      if (t instanceof Outgoing) t.poke();
    }
    this.out.clear();
    this.inc.clear();
    this.queued.length = 0;
    this.refresh();
  }

  private refresh(): void {
    const now = performance.now();
    let moving = 0;
    for (const t of this.all) {
      if (t.ended) continue;
      moving++;
      t.show(now);
    }
    if (moving === 0 && !this.link && this.refresher !== undefined) {
      clearInterval(this.refresher);
      this.refresher = undefined;
    }
  }

  private add(t: Transfer): void {
    this.all.add(t);
    this.list.prepend(t.li);
    // Old rows of ended transfers go, so that a long session does not grow without end.
    if (this.all.size > MAX_ROWS) {
      for (const old of this.all) {
        if (this.all.size <= MAX_ROWS) break;
        if (old.ended && !(old instanceof Outgoing && old.deliveries)) {
          old.li.remove();
          this.all.delete(old);
        }
      }
    }
  }

  private freeId(): number {
    const b = new Uint32Array(1);
    for (;;) {
      crypto.getRandomValues(b);
      const id = b[0]!;
      if (id !== 0 && !this.out.has(id) && !this.inc.has(id)) return id;
    }
  }

  // ---- sending ----

  /** Offers each file to `to` (a person, several, or a room). */
  send(files: Outbound[], to: string): void {
    for (const f of files) {
      const t = new Outgoing(this.freeId(), f.file, f.path, to);
      this.out.set(t.id, t);
      this.add(t);
      this.queued.push(t);
    }
    this.pump();
  }

  private pump(): void {
    const link = this.link;
    if (!link) return;
    let busy = 0;
    for (const t of this.out.values()) if (!t.ended && !t.inLine) busy++;
    while (busy < MAX_OUT && this.queued.length > 0) {
      const t = this.queued.shift()!;
      if (t.ended) continue;
      t.inLine = false;
      this.offer(t);
      busy++;
    }
  }

  private offer(t: Outgoing): void {
    const link = this.link;
    if (!link) return;
    const fingerprint = BigInt(Math.max(0, Math.trunc(t.file.lastModified))) * 10000n + EPOCH_TICKS;
    t.offered = false;
    try {
      t.offerItem = link.paced(
        "offer",
        { type: "Offer", id: t.id, from: "", senderId: new Uint8Array(0), to: t.to, file: t.path, size: t.size, fingerprint },
        () => {
          t.offered = true;
          t.timer = setTimeout(() => this.fail(t, "no answer within 90 s"), OFFER_TIMEOUT);
        },
      );
    } catch {
      this.end(t, "failed", "the file name is too long to offer");
    }
  }

  private accepted(t: Outgoing, a: Accept): void {
    if (t.state !== "waiting" || !t.offered) return;
    if (t.timer !== undefined) clearTimeout(t.timer);
    const link = this.link!;
    if (a.window === 0 || a.maxChunk === 0) {
      this.fail(t, "the receiver granted no window");
      return;
    }
    // The offset and prefix of the Accept are ignored: a page cannot resume, so it starts over at 0.
    t.window = Math.min(a.window, MAX_OUT_WINDOW);
    t.chunk = Math.min(a.maxChunk, MAX_CHUNK, link.serverMaxFrame - 13);
    t.setState("sending");
    t.began = performance.now();
    t.lastAck = t.began;
    link.sendFrame({ type: "Start", id: t.id, offset: 0, window: t.window });
    void this.pump_(t).catch((e: unknown) => {
      if (!t.ended) this.fail(t, `could not read the file: ${e instanceof Error ? e.message : String(e)}`);
    });
  }

  /** Waits until `n` more bytes fit the window and the socket is not too full; false when it ended. */
  private async room(t: Outgoing, n: number): Promise<boolean> {
    for (;;) {
      const link = this.link;
      if (t.ended || !link || !link.open) return false;
      if (t.sent + n - t.acked > t.window) {
        if (performance.now() - t.lastAck > DATA_TIMEOUT) {
          this.fail(t, "no acknowledgement from the receiver for 60 s");
          return false;
        }
        await new Promise<void>((resolve) => {
          t.wake = resolve;
          setTimeout(resolve, 1000);
        });
      } else if (link.bufferedAmount > BUFFERED_LIMIT) {
        await sleep(4);
      } else {
        return true;
      }
    }
  }

  private async pump_(t: Outgoing): Promise<void> {
    const hasher = await newHasher();
    const read = (pos: number) => t.file.slice(pos, Math.min(t.size, pos + BLOCK)).arrayBuffer();
    let pos = 0;
    let next = t.size > 0 ? read(0) : undefined;
    while (pos < t.size) {
      const block = new Uint8Array(await next!);
      if (t.ended) return;
      const expected = Math.min(BLOCK, t.size - pos);
      if (block.length !== expected) throw new Error("the file changed while it was read");
      next = pos + block.length < t.size ? read(pos + block.length) : undefined;
      next?.catch(() => undefined);
      hasher.update(block);
      for (let off = 0; off < block.length; off += t.chunk) {
        const piece = block.subarray(off, Math.min(block.length, off + t.chunk));
        if (!(await this.room(t, piece.length))) return;
        this.link!.sendBytes(encodeChunk(t.id, pos + off, piece));
        t.sent += piece.length;
      }
      pos += block.length;
    }
    if (t.ended || !this.link) return;
    t.digest = hasher.digest("binary");
    this.link.sendFrame({ type: "Done", id: t.id, size: t.size, sha256: t.digest });
    t.timer = setTimeout(() => this.fail(t, "the receiver did not confirm the file within 120 s"), VERIFY_TIMEOUT);
  }

  private acked(t: Outgoing, written: number): void {
    if (t.state !== "sending") return;
    if (written > t.acked) {
      t.acked = Math.min(written, t.sent);
      t.lastAck = performance.now();
      t.moved(t.acked);
      t.poke();
    }
  }

  private verified(t: Outgoing, sha: Uint8Array): void {
    if (t.state !== "sending") return;
    if (!t.digest || !sameBytes(t.digest, sha)) {
      this.fail(t, `the receiver confirmed another SHA-256 (${toHex(sha)})`);
      return;
    }
    t.moved(t.size);
    t.li.dataset["sha256"] = toHex(sha);
    this.end(t, "verified");
    // A file the server keeps (for a room, several people or someone away) is followed by Held.
    setTimeout(() => this.out.get(t.id) === t && this.out.delete(t.id), 30_000);
  }

  private held(t: Outgoing, fileId: string, recipients: number): void {
    t.fileId = fileId;
    t.setState("held");
    t.note(`kept by the server as ${fileId} for ${recipients} ${recipients === 1 ? "person" : "people"}`);
    t.deliveries = el("ul", "deliveries");
    t.li.append(t.deliveries);
    this.byFileId.set(fileId, t.deliveries);
    this.out.delete(t.id);
  }

  private rejected(t: Outgoing, reason: string): void {
    if (t.state !== "waiting") return;
    if (t.timer !== undefined) clearTimeout(t.timer);
    t.offerItem = undefined;
    if (reason.startsWith("too many ")) {
      // Only the timing was refused: the same offer, under the same id, a second later.
      t.note(`the receiver is busy (${visible(reason)}): offering again`);
      setTimeout(() => {
        if (!t.ended && this.out.get(t.id) === t) this.offer(t);
      }, 1000);
      return;
    }
    if (reason.startsWith("transfer id")) {
      // Only the id collided: offer again under another one.
      this.out.delete(t.id);
      t.setId(this.freeId());
      this.out.set(t.id, t);
      this.offer(t);
      return;
    }
    this.end(t, "rejected", reason);
  }

  // ---- receiving ----

  private offered(o: Offer): void {
    const link = this.link!;
    const reject = (reason: string, show: boolean) => {
      link.sendFrame({ type: "Reject", id: o.id, reason });
      if (show) {
        const t = new Incoming(o);
        this.add(t);
        t.setState("rejected", reason);
      }
    };
    if (this.inc.has(o.id) || this.out.has(o.id)) {
      reject(`transfer id ${o.id} is in use on this connection`, false);
      return;
    }
    if (o.file.endsWith("/")) {
      reject("this browser client cannot receive a folder as one transfer: send its files one by one", true);
      return;
    }
    const bad = badPath(o.file);
    if (bad) {
      reject(bad, true);
      return;
    }
    let busy = 0;
    for (const t of this.inc.values()) if (!t.ended) busy++;
    if (busy >= MAX_IN) {
      reject(`too many incoming transfers at once (${MAX_IN}): offer it again later`, false);
      return;
    }
    const t = new Incoming(o);
    this.inc.set(o.id, t);
    // Shown once it is known whether it can be taken (where it would go, whether it fits).
    t.li.hidden = true;
    this.add(t);
    t.timer = setTimeout(() => this.decline(t, "not answered within 60 s"), ANSWER_TIMEOUT);
    void Promise.race([refusal(o.size), sleep(15_000)])
      .catch(() => undefined)
      .then((why) => {
        if (why !== undefined) this.decline(t, why);
        t.li.hidden = false;
      });
  }

  private async accept(t: Incoming): Promise<void> {
    if (t.state !== "offered" || !this.link) return;
    if (t.timer !== undefined) clearTimeout(t.timer);
    t.setState("receiving");
    t.note("opening the download…");
    const name = lastPart(t.path);
    try {
      t.sink = await openSink(name, t.size);
    } catch (e) {
      this.decline(t, e instanceof Refusal
        ? e.message
        : `this browser could not open a download (${e instanceof Error ? e.message : String(e)})`);
      return;
    }
    t.hasher = await newHasher();
    if (t.ended || !this.link) {
      t.sink.abort("ended");
      return;
    }
    t.note(t.sink.route === "storage"
      ? "written to the browser's storage: the download starts once the file is verified"
      : t.sink.route === "memory" ? "kept in memory: the download starts once the file is verified" : "");
    this.link.sendFrame({ type: "Accept", id: t.id, offset: 0, prefix: new Uint8Array(0), maxChunk: MAX_CHUNK, window: IN_WINDOW });
    t.timer = setTimeout(() => this.fail(t, "no Start within 30 s"), START_TIMEOUT);
  }

  private decline(t: Incoming, reason: string): void {
    if (t.state !== "offered" && !(t.state === "receiving" && !t.started)) return;
    this.link?.sendFrame({ type: "Reject", id: t.id, reason });
    t.sink?.abort(reason);
    this.end(t, "rejected", reason);
  }

  private started(t: Incoming, offset: number, window: number): void {
    if (t.state !== "receiving" || t.started || !t.hasher) return;
    if (offset !== 0) return this.fail(t, `the sender started at ${offset}, not at 0 as asked`);
    if (window === 0 || window > IN_WINDOW) return this.fail(t, `the sender declared a window of ${window}`);
    if (t.timer !== undefined) clearTimeout(t.timer);
    t.started = true;
    t.window = window;
    t.ackEvery = Math.max(1, Math.min(Math.floor(window / 4), 131072));
    t.began = performance.now();
    t.lastData = t.began;
    t.timer = setInterval(() => {
      if (performance.now() - t.lastData > DATA_TIMEOUT) this.fail(t, "no data for 60 s");
    }, 5000);
  }

  private chunk(t: Incoming, offset: number, data: Uint8Array): void {
    if (t.state !== "receiving") return;
    if (!t.started) return this.fail(t, "a chunk before Start");
    if (offset !== t.received) return this.fail(t, `a chunk at ${offset}, expected ${t.received}`);
    if (data.length > MAX_CHUNK) return this.fail(t, `a chunk of ${data.length} bytes, above ${MAX_CHUNK}`);
    if (t.received + data.length > t.size) return this.fail(t, "more bytes than offered");
    if (t.received + data.length - t.ackSent > t.window) return this.fail(t, "more bytes than the window allows");
    t.received += data.length;
    t.lastData = performance.now();
    t.queue.push(data);
    this.schedule(t);
  }

  /** Puts a write of the queued chunks on the transfer's chain, unless one is there already. */
  private schedule(t: Incoming): void {
    if (t.flushing) return;
    t.flushing = true;
    t.chain = t.chain.then(() => this.flush(t));
    t.chain.catch((e: unknown) => {
      if (t.ended) return;
      if (t.sink?.route === "stream") this.cancel(t, "the download was cancelled in the browser");
      else this.fail(t, e instanceof Error ? e.message : String(e));
    });
  }

  /**
   * Writes what was received, up to WRITE_BATCH at a time (what came while the last write went on), and
   * acknowledges what is written, until nothing is left: Done, which comes after the last chunk, waits for it.
   */
  private async flush(t: Incoming): Promise<void> {
    try {
      while (t.queue.length > 0 && !t.ended) {
        let n = 0;
        let k = 0;
        while (k < t.queue.length && (k === 0 || n + t.queue[k]!.length <= WRITE_BATCH)) n += t.queue[k++]!.length;
        const batch = t.queue.splice(0, k);
        for (const c of batch) t.hasher!.update(c);
        await t.sink!.write(batch);
        if (t.ended) return;
        t.written += n;
        t.moved(t.written);
        if (t.written - t.ackSent >= t.ackEvery || t.written === t.size) {
          t.ackSent = t.written;
          this.link?.sendFrame({ type: "Ack", id: t.id, written: t.written });
        }
      }
    } finally {
      t.flushing = false;
    }
  }

  private done(t: Incoming, size: number, sha: Uint8Array): void {
    if (t.state !== "receiving" || !t.started) return;
    void t.chain.then(async () => {
      if (t.ended) return;
      const mine = t.hasher!.digest("binary");
      if (size !== t.size || t.written !== size) {
        t.sink!.abort("size mismatch");
        this.fail(t, `size mismatch: received ${t.written} bytes, the sender says ${size}`);
        return;
      }
      if (!sameBytes(mine, sha)) {
        t.sink!.abort("SHA-256 mismatch");
        this.fail(t, `SHA-256 mismatch: the file was discarded (received ${toHex(mine)}, `
          + `the sender says ${toHex(sha)})`);
        return;
      }
      try {
        await t.sink!.close();
      } catch (e) {
        this.fail(t, `the browser did not save the file (${e instanceof Error ? e.message : String(e)})`);
        return;
      }
      if (t.ended) return;
      t.li.dataset["sha256"] = toHex(mine);
      this.link?.sendFrame({ type: "Verified", id: t.id, sha256: mine });
      this.end(t, "verified");
      t.note(t.sink!.route === "stream"
        ? "saved through the browser's downloads"
        : "the download has started (see the browser's downloads)");
    }).catch(() => undefined);
  }

  // ---- both ----

  private end(t: Transfer, state: State, reason?: string): void {
    if (t.ended) return;
    if (t.timer !== undefined) {
      clearTimeout(t.timer);
      clearInterval(t.timer);
    }
    t.setState(state, reason);
    if (t instanceof Incoming) {
      if (this.inc.get(t.id) === t) this.inc.delete(t.id);
      if (state !== "verified") t.sink?.abort(reason ?? state);
    } else if (t instanceof Outgoing) {
      t.poke();
      if (state !== "verified" && this.out.get(t.id) === t) this.out.delete(t.id);
      if (t.offerItem && !t.offered) t.offerItem.dropped = true;
      this.pump();
    }
  }

  /** Something went wrong on our side: Fail to the peer. */
  private fail(t: Transfer, reason: string): void {
    if (t.ended) return;
    const silent = t instanceof Outgoing && !t.offered;
    if (!silent) this.link?.sendFrame({ type: "Fail", id: t.id, reason });
    this.end(t, "failed", reason);
  }

  /** The person cancels (either direction). */
  cancel(t: Transfer, reason = t.direction === "out" ? "cancelled by the sender" : "cancelled by the receiver"): void {
    if (t.ended) return;
    if (t instanceof Incoming && t.state === "offered") return this.decline(t, "declined");
    const silent = t instanceof Outgoing && !t.offered;
    if (!silent) this.link?.sendFrame({ type: "Cancel", id: t.id, by: "", reason });
    this.end(t, "cancelled", reason);
  }

  /** Frames of transfers and kept files; true when handled. */
  frame(f: Frame): boolean {
    switch (f.type) {
      case "Offer": this.offered(f); return true;
      case "Accept": { const t = this.out.get(f.id); if (t) this.accepted(t, f); return true; }
      case "Reject": { const t = this.out.get(f.id); if (t) this.rejected(t, f.reason); return true; }
      case "Ack": { const t = this.out.get(f.id); if (t) this.acked(t, f.written); return true; }
      case "Verified": { const t = this.out.get(f.id); if (t) this.verified(t, f.sha256); return true; }
      case "Held": { const t = this.out.get(f.id); if (t) this.held(t, f.fileId, f.recipients); return true; }
      case "Start": { const t = this.inc.get(f.id); if (t) this.started(t, f.offset, f.window); return true; }
      case "Chunk": { const t = this.inc.get(f.id); if (t) this.chunk(t, f.offset, f.data); return true; }
      case "Done": { const t = this.inc.get(f.id); if (t) this.done(t, f.size, f.sha256); return true; }
      case "Cancel":
      case "Fail": {
        const t = this.out.get(f.id) ?? this.inc.get(f.id);
        if (!t || t.ended) return true;
        if (f.type === "Cancel") this.end(t, "cancelled", `cancelled${f.by ? ` by ${f.by}` : ""}: ${f.reason}`);
        else this.end(t, "failed", f.reason);
        return true;
      }
      case "Prove": {
        // We never send Claim, so nothing is to be proved: the transfer cannot go on.
        const t = this.out.get(f.id);
        if (t) this.fail(t, "asked for a proof of a claim this page did not make");
        return true;
      }
      case "Delivery": this.delivery(f); return true;
      default: return false;
    }
  }

  private delivery(d: Delivery): void {
    let list = this.byFileId.get(d.fileId);
    if (!list) {
      const li = el("li", "kept");
      li.dataset["fileId"] = d.fileId;
      li.append(bdi(d.file, "file"), " ", el("span", "file-id", `(${d.fileId})`));
      list = el("ul", "deliveries");
      li.append(list);
      this.kept.append(li);
      this.keptSection.hidden = false;
      this.byFileId.set(d.fileId, list);
    }
    let row = [...list.children].find((c) => (c as HTMLElement).dataset["to"] === d.to) as HTMLElement | undefined;
    if (!row) {
      row = el("li", "delivery");
      row.dataset["to"] = d.to;
      list.append(row);
    }
    const state = DELIVERY_STATES[d.state] ?? `state ${d.state}`;
    row.dataset["state"] = state;
    row.replaceChildren(bdi(d.to, "peer"), `: ${state}`);
    if (d.state === 3) row.append(` (${formatBytes(d.bytes)} of ${formatBytes(d.size)})`);
    if (d.reason) row.append(" — ", bdi(d.reason, "reason"));
  }
}
