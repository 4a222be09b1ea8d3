// Where received bytes go. With a service worker (a secure context), a download is streamed: the page
// writes into a TransformStream whose readable side it transferred to the worker, and the worker answers
// a hidden iframe's request for /dl/<random> with it, so the file never sits in the page's memory.
// Without one, the bytes are kept in memory and handed over as a Blob once verified (small files only).

export const MEMORY_LIMIT = 256 * 1024 * 1024;

export interface Sink {
  /** Resolves when the sink takes more (backpressure). */
  ready(): Promise<void>;
  write(chunk: Uint8Array): void;
  /** The file is complete and verified. */
  close(): Promise<void>;
  /** The file is not good: the download fails. */
  abort(reason: string): void;
}

let registration: ServiceWorkerRegistration | undefined;
let registering: Promise<ServiceWorkerRegistration | undefined> | undefined;
/** Why downloads cannot be streamed, once that is known (undefined: they can, or it is not known yet). */
let cannotStream: string | undefined;
const listeners: (() => void)[] = [];

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

/** Whether received files go to disk as they come (else they are kept in memory). */
export function canStream(): boolean {
  return supported() && cannotStream === undefined;
}

/** Why received files are kept in memory, for the page to say. */
export function whyNoStreaming(): string | undefined {
  if (!supported()) {
    return window.isSecureContext
      ? "This browser cannot stream a download from the page through a service worker"
      : "This page is not a secure context (HTTPS, or http://localhost), so it cannot have a service worker";
  }
  return cannotStream;
}

export function onStreamingChange(f: () => void): void {
  listeners.push(f);
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
      const message = err instanceof Error ? err.message : String(err);
      cannotStream = /certificate/i.test(message)
        ? "The browser does not trust this server's certificate, so it did not let this page run its service worker"
        : "The browser did not let this page run its service worker";
      for (const f of listeners) f();
      return undefined;
    });
  return registering;
}

function randomId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
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
export async function openStreamSink(name: string, size: number): Promise<Sink> {
  const reg = registration ?? (await registerServiceWorker());
  const worker = reg?.active;
  if (!worker) throw new Error("the service worker is not running");
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
  await registered;
  channel.port1.close();

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
    ready: () => writer.ready,
    write: (chunk) => {
      writer.write(chunk).catch(() => undefined);
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

/** Keeps the file in memory and offers it as a download once verified. */
export function openMemorySink(name: string): Sink {
  let parts: Uint8Array[] = [];
  return {
    ready: () => Promise.resolve(),
    write: (chunk) => {
      parts.push(chunk);
    },
    close: async () => {
      const url = URL.createObjectURL(new Blob(parts as BlobPart[], { type: "application/octet-stream" }));
      parts = [];
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      a.hidden = true;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
    abort: () => {
      parts = [];
    },
  };
}
