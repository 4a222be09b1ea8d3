// The service worker (/sw.js, scope /). It does one thing: the page hands it the readable side of a
// stream and a random id, and it answers the request for /dl/<id> (a hidden iframe) with that stream as
// an attachment, so a received file goes to the browser's downloads without being held in memory.
// Every other request goes to the network untouched.

const sw = self as unknown as ServiceWorkerGlobalScope;

interface Pending {
  readable: ReadableStream<Uint8Array>;
  name: string;
  size: number;
  timer: ReturnType<typeof setTimeout>;
}

const pending = new Map<string, Pending>();

sw.addEventListener("install", () => {
  void sw.skipWaiting();
});

sw.addEventListener("activate", (event) => {
  event.waitUntil(sw.clients.claim());
});

sw.addEventListener("message", (event) => {
  const data: unknown = event.data;
  if (typeof data !== "object" || data === null) return;
  const m = data as { type?: unknown; id?: unknown; name?: unknown; size?: unknown; readable?: unknown };
  if (m.type !== "download") return; // "keepalive": the event itself is the point
  if (typeof m.id !== "string" || !/^[0-9a-f]{32}$/.test(m.id) || !(m.readable instanceof ReadableStream)) return;
  if (typeof m.name !== "string" || typeof m.size !== "number" || !Number.isSafeInteger(m.size) || m.size < 0) return;
  const id = m.id;
  const readable = m.readable as ReadableStream<Uint8Array>;
  // A stream nobody asks for within a minute is given up.
  const timer = setTimeout(() => {
    pending.delete(id);
    readable.cancel().catch(() => undefined);
  }, 60_000);
  pending.set(id, { readable, name: m.name, size: m.size, timer });
  event.ports[0]?.postMessage("ready");
});

/** RFC 8187 / RFC 5987 encoding of a file name for filename*=UTF-8''… */
function encodeName(name: string): string {
  return encodeURIComponent(name).replace(/['()*!]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

sw.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== sw.location.origin || !url.pathname.startsWith("/dl/")) return;
  const id = url.pathname.slice(4);
  const entry = pending.get(id);
  if (!entry) {
    event.respondWith(new Response("This download is over or unknown.", { status: 404, headers: { "Content-Type": "text/plain; charset=utf-8" } }));
    return;
  }
  pending.delete(id);
  clearTimeout(entry.timer);
  event.respondWith(
    new Response(entry.readable, {
      headers: {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": `attachment; filename*=UTF-8''${encodeName(entry.name)}`,
        "Content-Length": String(entry.size),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
      },
    }),
  );
});
