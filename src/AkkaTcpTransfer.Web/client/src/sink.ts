// Where received bytes go, by the first route that works here:
// 1. "stream": with a service worker, a download is streamed: the page writes into a TransformStream whose
//    readable side it transferred to the worker, and the worker answers a hidden iframe's request for
//    /dl/<random> with it, so the file goes straight into the browser's downloads.
// 2. "storage": without one (a certificate the browser does not trust: Chromium then refuses the worker),
//    the bytes are written to a file in the Origin Private File System (incoming/<visit>/<n>), and once
//    verified that file is offered as a download (a blob URL of it: the browser copies it from disk).
// 3. "memory": with neither, the bytes are kept in memory and handed over as a Blob once verified (small
//    files only).
// Memory stays flat on the first two: a write is awaited before the bytes are acknowledged.

import { formatBytes } from "./format";

export const MEMORY_LIMIT = 256 * 1024 * 1024;

export type Route = "stream" | "storage" | "memory";

export interface Sink {
  readonly route: Route;
  /** Takes the chunks, in order; resolves when they are written (a stream: taken, and it takes more). */
  write(chunks: readonly Uint8Array[]): Promise<void>;
  /** The file is complete and verified: closes it and hands it to the person. */
  close(): Promise<void>;
  /** The file is not good: the download fails, or what was stored is deleted. */
  abort(reason: string): void;
}

/** A sink could not be opened, for a reason to tell the sender (in a Reject). */
export class Refusal extends Error {}

const listeners: (() => void)[] = [];

/** Called whenever the route or the room in storage may have changed (for the page to say so). */
export function onRouteChange(f: () => void): void {
  listeners.push(f);
}

function changed(): void {
  for (const f of listeners) f();
}

function randomId(bytes = 16): string {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function message(e: unknown): string {
  return e instanceof Error ? (e.message || e.name) : String(e);
}

/** Offers `url` as a download of `name`: a click on <a download>, which needs no further action. */
function download(url: string, name: string): void {
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
}

// ---- 1. a service worker's stream ----

let registration: ServiceWorkerRegistration | undefined;
let registering: Promise<ServiceWorkerRegistration | undefined> | undefined;
/** Why downloads cannot be streamed, once that is known (undefined: they can, or it is not known yet). */
let cannotStream: string | undefined;
let transferable: boolean | undefined;

/** Whether a ReadableStream can be handed to the worker (Chromium can; some browsers cannot). */
function streamsTransfer(): boolean {
  if (transferable === undefined) {
    try {
      const rs = new ReadableStream();
      structuredClone(rs, { transfer: [rs as unknown as Transferable] });
      transferable = true;
    } catch {
      transferable = false;
    }
  }
  return transferable;
}

function supported(): boolean {
  return window.isSecureContext && "serviceWorker" in navigator && typeof TransformStream === "function"
    && streamsTransfer();
}

function canStream(): boolean {
  return supported() && cannotStream === undefined;
}

/** Why received files cannot stream into the downloads (undefined: they can, as far as is known). */
export function whyNoStreaming(): string | undefined {
  if (!supported()) {
    return window.isSecureContext
      ? "This browser cannot stream a download from the page through a service worker"
      : "This page is not a secure context (HTTPS, or http://localhost), so it cannot have a service worker";
  }
  return cannotStream;
}

function noStream(why: string): void {
  if (cannotStream !== undefined) return;
  cannotStream = why;
  changed();
}

/** Registers /sw.js (scope /) at page load; resolves to undefined when the page cannot have one. */
export function registerServiceWorker(): Promise<ServiceWorkerRegistration | undefined> {
  if (!supported()) return Promise.resolve(undefined);
  registering ??= navigator.serviceWorker
    .register("/sw.js", { scope: "/" })
    .then(async () => {
      registration = await navigator.serviceWorker.ready;
      return registration;
    })
    .catch((err: unknown) => {
      console.error("service worker", err);
      noStream(/certificate/i.test(message(err))
        ? "The browser does not trust this server's certificate, so it did not let this page run its service worker"
        : "The browser did not let this page run its service worker");
      return undefined;
    });
  return registering;
}

/** The registration, once the worker is active: waits for it at most `ms`. */
async function activeWorker(ms: number): Promise<ServiceWorker | undefined> {
  if (!canStream()) return undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms)));
  const reg = registration ?? (await Promise.race([registerServiceWorker(), late]));
  clearTimeout(timer);
  if (!reg?.active) noStream("The page's service worker did not start");
  return reg?.active ?? undefined;
}

let keepAlive: ReturnType<typeof setInterval> | undefined;
let streaming = 0;

/** The worker is stopped when idle; a message now and then keeps it while it serves a download. */
function holdWorker(worker: ServiceWorker, delta: number): void {
  streaming += delta;
  if (streaming > 0 && keepAlive === undefined) {
    keepAlive = setInterval(() => worker.postMessage({ type: "keepalive" }), 10_000);
  } else if (streaming <= 0 && keepAlive !== undefined) {
    clearInterval(keepAlive);
    keepAlive = undefined;
  }
}

/** Opens a streamed download of `name` (the last part of the offered path) of `size` bytes. */
async function openStreamSink(worker: ServiceWorker, name: string, size: number): Promise<Sink> {
  const id = randomId();
  const stream = new TransformStream<Uint8Array, Uint8Array>(
    undefined,
    { highWaterMark: 4 },
    { highWaterMark: 4 },
  );
  const channel = new MessageChannel();
  const registered = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the service worker did not answer")), 10_000);
    channel.port1.onmessage = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  worker.postMessage({ type: "download", id, name, size, readable: stream.readable }, [
    stream.readable as unknown as Transferable, channel.port2,
  ]);
  try {
    await registered;
  } finally {
    channel.port1.close();
  }

  const frame = document.createElement("iframe");
  frame.hidden = true;
  frame.title = "download";
  frame.src = `/dl/${id}`;
  document.body.append(frame);
  const removeFrame = () => setTimeout(() => frame.remove(), 60_000);

  const writer = stream.writable.getWriter();
  holdWorker(worker, 1);
  let finished = false;
  const finish = () => {
    if (!finished) {
      finished = true;
      holdWorker(worker, -1);
      removeFrame();
    }
  };
  return {
    route: "stream",
    write: async (chunks) => {
      for (const chunk of chunks) {
        await writer.ready;
        writer.write(chunk).catch(() => undefined);
      }
    },
    close: async () => {
      try {
        await writer.close();
      } finally {
        finish();
      }
    },
    abort: (reason) => {
      writer.abort(new Error(reason)).catch(() => undefined);
      finish();
    },
  };
}

// ---- 2. the browser's private storage (OPFS) ----

const FOLDER = "incoming";
/** A visit holds the Web Lock LOCK + its folder's name while the page is open; a folder whose lock nobody
 * holds belongs to a page that is gone, and is removed at the next load. */
const LOCK = "akt.incoming.";
/** Room left free beside a file (the browser's own bookkeeping, rounding in the estimate). */
const MARGIN = 32 << 20;
/**
 * Chromium reports a quota of usage + 10 GiB whatever the disk holds (the real figure would tell sites the
 * disk's size), and takes more when its real quota (a share of the disk) allows: a room of exactly that
 * says "at least", not "at most". On a small disk the fixed figure can be above the real one: there the
 * room set aside for each file (below) is what tells.
 */
const REPORTED_CAP = 10 * 2 ** 30;
/**
 * How long a file handed to the downloads keeps its blob URL: ten minutes, or as long as a copy at 5 MB/s
 * takes. After that it may be removed to make room for a new file (else it stays until the next load).
 */
const handOverTime = (size: number) => Math.max(10 * 60_000, size / 5000);

let store: Promise<FileSystemDirectoryHandle | undefined> | undefined;
/** Why received files cannot go to the private storage, once that is known. */
let cannotStore: string | undefined;
let stored = false;
let seq = 0;
/** Files of this visit handed to the downloads, and until when their downloads may read them. */
const handedOver = new Map<string, number>();

function storageApi(): boolean {
  return window.isSecureContext && typeof navigator.storage?.getDirectory === "function"
    && typeof navigator.storage.estimate === "function" && typeof navigator.locks?.request === "function"
    && typeof FileSystemFileHandle === "function"
    && typeof FileSystemFileHandle.prototype.createWritable === "function";
}

/** Why received files cannot be written to the browser's storage (undefined: they can, as far as is known). */
export function whyNoStorage(): string | undefined {
  if (!storageApi()) {
    return window.isSecureContext
      ? "this browser cannot write files into its private storage from a page"
      : "it cannot use the browser's private storage either";
  }
  return cannotStore;
}

/** Removes the folders of visits that are over (no page holds their lock): files received then. */
async function sweep(incoming: FileSystemDirectoryHandle, mine: string): Promise<void> {
  const names: string[] = [];
  for await (const name of incoming.keys()) if (name !== mine) names.push(name);
  if (names.length === 0) return;
  // Listed before the locks are read: a folder is made only once its lock is held, so a folder seen
  // here whose visit is alive shows up among the locks.
  const locks = await navigator.locks.query();
  const live = new Set([...(locks.held ?? []), ...(locks.pending ?? [])].map((l) => l.name));
  for (const name of names) {
    if (!live.has(LOCK + name)) await incoming.removeEntry(name, { recursive: true }).catch(() => undefined);
  }
}

/** Opens this visit's folder at page load (removing earlier visits' files); undefined when there is none. */
export function openStore(): Promise<FileSystemDirectoryHandle | undefined> {
  store ??= (async () => {
    if (!storageApi()) return undefined;
    try {
      const root = await navigator.storage.getDirectory();
      const incoming = await root.getDirectoryHandle(FOLDER, { create: true });
      const visit = `${Date.now().toString(36)}-${randomId(6)}`;
      await new Promise<void>((resolve) => {
        void navigator.locks.request(LOCK + visit, () => {
          resolve();
          return new Promise<never>(() => undefined); // held until the page goes
        });
      });
      const dir = await incoming.getDirectoryHandle(visit, { create: true });
      await sweep(incoming, visit).catch((e: unknown) => console.error("removing earlier files", e));
      // Whether a file can be written at all (a browser may refuse it in a private window, say).
      const probe = await dir.getFileHandle("probe", { create: true });
      const w = await probe.createWritable();
      await w.write(new Uint8Array(1));
      await w.close();
      await dir.removeEntry("probe");
      stored = true;
      changed();
      return dir;
    } catch (e) {
      console.error("private storage", e);
      cannotStore = `the browser did not let this page write to its private storage (${message(e)})`;
      changed();
      return undefined;
    }
  })();
  return store;
}

export interface Room {
  bytes: number;
  /** The browser reports no more than a fixed amount: the real room may be larger. */
  atLeast: boolean;
}

/** Room in the private storage, by the browser's estimate (files being written count whole: see reserve). */
export async function storageRoom(): Promise<Room | undefined> {
  try {
    const { quota, usage } = await navigator.storage.estimate();
    if (quota === undefined || usage === undefined) return undefined;
    return { bytes: Math.max(0, quota - usage - MARGIN), atLeast: quota - usage === REPORTED_CAP };
  } catch {
    return undefined;
  }
}

/** Removes this visit's files handed to the downloads long enough ago that their copies are done. */
async function reclaim(dir: FileSystemDirectoryHandle): Promise<boolean> {
  let freed = false;
  for (const [name, until] of handedOver) {
    if (Date.now() < until) continue;
    handedOver.delete(name);
    await dir.removeEntry(name).then(() => (freed = true), () => undefined);
  }
  return freed;
}

/** Why a file of `size` bytes does not fit the estimate (undefined: it fits, or may). */
async function noRoom(dir: FileSystemDirectoryHandle, size: number): Promise<string | undefined> {
  const fits = (r: Room | undefined) => r === undefined || r.atLeast || r.bytes >= size;
  let room = await storageRoom();
  if (!fits(room) && (await reclaim(dir))) room = await storageRoom();
  if (fits(room)) return undefined;
  return `not enough room in the receiving browser's storage: the file takes ${formatBytes(size)}, the browser `
    + `lets this page store ${formatBytes(room!.bytes)} more`;
}

interface Reserved {
  handle: FileSystemFileHandle;
  writable: FileSystemWritableFileStream;
}

async function discard(
  dir: FileSystemDirectoryHandle, file: string, writable?: FileSystemWritableFileStream,
): Promise<void> {
  await writable?.abort().catch(() => undefined);
  await dir.removeEntry(file).catch(() => undefined);
}

/**
 * Opens `file` for writing with `size` bytes set aside: the file is made that long at once (sparse: no disk
 * is used until written), which the browser counts against its real quota, so a file that cannot fit is
 * refused now rather than part way, and two files received together cannot both count on the same room.
 */
async function reserve(dir: FileSystemDirectoryHandle, file: string, size: number, again = true): Promise<Reserved> {
  let writable: FileSystemWritableFileStream | undefined;
  try {
    const handle = await dir.getFileHandle(file, { create: true });
    writable = await handle.createWritable();
    if (size > 0) await writable.truncate(size);
    return { handle, writable };
  } catch (e) {
    await discard(dir, file, writable);
    if (!(e instanceof DOMException && e.name === "QuotaExceededError")) throw e;
    if (again && (await reclaim(dir))) return reserve(dir, file, size, false);
    throw new Refusal(`not enough room in the receiving browser's storage: the file takes ${formatBytes(size)}, `
      + "more than the browser lets this page store now");
  }
}

/** Why a file of `size` bytes cannot be written to the private storage now (undefined: it can). */
async function noStorageRoom(dir: FileSystemDirectoryHandle, size: number): Promise<string | undefined> {
  const why = await noRoom(dir, size);
  if (why) return why;
  const probe = `probe-${++seq}`;
  try {
    const { writable } = await reserve(dir, probe, size);
    await discard(dir, probe, writable);
  } catch (e) {
    if (e instanceof Refusal) return e.message;
  }
  return undefined;
}

/** Writes the file into this visit's folder; on close, offers it as a download. */
async function openStorageSink(dir: FileSystemDirectoryHandle, name: string, size: number): Promise<Sink> {
  const why = await noRoom(dir, size);
  if (why) throw new Refusal(why);
  const file = String(++seq);
  const { handle, writable } = await reserve(dir, file, size);
  let over = false;
  const end = () => {
    over = true;
    changed();
  };
  return {
    route: "storage",
    write: async (chunks) => {
      let data: Uint8Array;
      if (chunks.length === 1) {
        data = chunks[0]!;
      } else {
        let n = 0;
        for (const c of chunks) n += c.length;
        data = new Uint8Array(n);
        n = 0;
        for (const c of chunks) {
          data.set(c, n);
          n += c.length;
        }
      }
      try {
        await writable.write(data as Uint8Array<ArrayBuffer>);
      } catch (e) {
        throw new Error(`could not write to the browser's storage: ${message(e)}`);
      }
    },
    close: async () => {
      await writable.close();
      end();
      let url: string;
      try {
        url = URL.createObjectURL(await handle.getFile());
      } catch (e) {
        await discard(dir, file);
        throw e;
      }
      download(url, name);
      // The file stays until the next load, or until its room is needed long after: the download reads it
      // from disk as it copies it.
      const hold = handOverTime(size);
      handedOver.set(file, Date.now() + hold);
      setTimeout(() => URL.revokeObjectURL(url), hold);
    },
    abort: () => {
      if (over) return;
      end();
      void discard(dir, file, writable);
    },
  };
}

// ---- 3. memory ----

/** Keeps the file in memory and offers it as a download once verified. */
function openMemorySink(name: string): Sink {
  let parts: Uint8Array[] = [];
  return {
    route: "memory",
    write: async (chunks) => {
      parts.push(...chunks);
    },
    close: async () => {
      const url = URL.createObjectURL(new Blob(parts as BlobPart[], { type: "application/octet-stream" }));
      parts = [];
      download(url, name);
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
    abort: () => {
      parts = [];
    },
  };
}

// ---- choosing ----

/** The route received files take here, as far as is known now (for the page to say). */
export function currentRoute(): Route {
  if (canStream()) return "stream";
  if (whyNoStorage() === undefined) return "storage";
  return "memory";
}

/** Whether the private storage is known to work (it is probed at load). */
export function storageReady(): boolean {
  return stored;
}

const memoryRefusal = "the receiving browser page can neither stream files to disk nor write them to its private "
  + "storage, so it keeps them in memory and takes files up to 256 MiB only";

/** Why an offer of `size` bytes cannot be received (undefined: it can, as far as is known now). */
export async function refusal(size: number): Promise<string | undefined> {
  if (await activeWorker(10_000)) return undefined;
  const dir = await openStore();
  if (dir) return noStorageRoom(dir, size);
  return size > MEMORY_LIMIT ? memoryRefusal : undefined;
}

/**
 * Opens where a received file of `size` bytes goes, by the first route that works: a stream into the
 * downloads, the private storage, memory. Throws a Refusal (with the reason for the sender) when none can take it.
 */
export async function openSink(name: string, size: number): Promise<Sink> {
  const worker = await activeWorker(10_000);
  if (worker) {
    try {
      return await openStreamSink(worker, name, size);
    } catch (e) {
      console.error("streamed download", e);
    }
  }
  const dir = await openStore();
  if (dir) {
    try {
      return await openStorageSink(dir, name, size);
    } catch (e) {
      if (e instanceof Refusal) throw e;
      console.error("private storage", e);
      if (size > MEMORY_LIMIT) {
        throw new Refusal(`the receiving browser could not write to its private storage (${message(e)})`);
      }
    }
  }
  if (size > MEMORY_LIMIT) throw new Refusal(memoryRefusal);
  return openMemorySink(name);
}
