// Frame codec of the AkkaTcpTransfer wire protocol, version 5 (docs/PROTOCOL.md).
// A frame is: u32 length (big-endian, type + payload), u8 type, payload fields in order.
// Decoding is strict: a short payload, bytes left over, invalid UTF-8, a bad flag, a negative size
// or offset, a transfer id 0 or an unknown type is a protocol violation (ProtocolError).

export const PROTOCOL_VERSION = 5;
export const MAGIC = [0x41, 0x54, 0x54, 0x50]; // "ATTP"

export class ProtocolError extends Error {}

/** Bytes in an ordinary (not shared) buffer, as WebSocket.send takes them. */
export type Bytes = Uint8Array<ArrayBuffer>;

type Kind =
  | "u8" | "u16" | "u32" | "flag" | "i64" | "ticks" | "str" | "bin8" | "names" | "sha256" | "rest" | "magic"
  | "roomlist" | "memberlist";

/** Who may send a frame type: client to server, server to client, both, or node links only. */
type Dir = "cs" | "sc" | "both" | "link";

interface Schema { name: string; dir: Dir; fields: [string, Kind][] }

const S: Record<number, Schema> = {
  0x01: { name: "Hello", dir: "cs", fields: [["magic", "magic"], ["version", "u16"], ["maxFrame", "u32"], ["name", "str"], ["token", "str"], ["resumeKey", "bin8"]] },
  0x02: { name: "Welcome", dir: "sc", fields: [["version", "u16"], ["maxFrame", "u32"], ["serverName", "str"], ["yourName", "str"], ["resumeKey", "bin8"], ["registered", "flag"], ["chatRate", "u32"], ["chatBurst", "u32"], ["whoRate", "u32"], ["whoBurst", "u32"], ["offerRate", "u32"], ["offerBurst", "u32"], ["roomRate", "u32"], ["roomBurst", "u32"], ["historyRate", "u32"], ["historyBurst", "u32"], ["online", "names"]] },
  0x03: { name: "Refused", dir: "sc", fields: [["code", "u16"], ["reason", "str"]] },
  0x04: { name: "Ping", dir: "both", fields: [] },
  0x05: { name: "Goodbye", dir: "both", fields: [["code", "u16"], ["reason", "str"]] },
  0x06: { name: "Error", dir: "sc", fields: [["code", "u16"], ["message", "str"]] },
  0x10: { name: "Say", dir: "cs", fields: [["id", "u32"], ["to", "str"], ["text", "str"]] },
  0x11: { name: "Chat", dir: "sc", fields: [["from", "str"], ["to", "str"], ["at", "i64"], ["text", "str"]] },
  0x12: { name: "PeerJoined", dir: "sc", fields: [["name", "str"]] },
  0x13: { name: "PeerLeft", dir: "sc", fields: [["name", "str"]] },
  0x14: { name: "WhoRequest", dir: "cs", fields: [] },
  0x15: { name: "WhoReply", dir: "sc", fields: [["names", "names"]] },
  0x16: { name: "SayAck", dir: "sc", fields: [["id", "u32"], ["at", "i64"], ["held", "flag"]] },
  0x17: { name: "SayRefused", dir: "sc", fields: [["id", "u32"], ["code", "u16"], ["reason", "str"]] },
  0x20: { name: "Offer", dir: "both", fields: [["id", "u32"], ["from", "str"], ["senderId", "bin8"], ["to", "str"], ["file", "str"], ["size", "i64"], ["fingerprint", "ticks"]] },
  0x21: { name: "Accept", dir: "both", fields: [["id", "u32"], ["offset", "i64"], ["prefix", "bin8"], ["maxChunk", "u32"], ["window", "u32"]] },
  0x22: { name: "Reject", dir: "both", fields: [["id", "u32"], ["reason", "str"]] },
  0x23: { name: "Start", dir: "both", fields: [["id", "u32"], ["offset", "i64"], ["window", "u32"]] },
  0x24: { name: "Chunk", dir: "both", fields: [["id", "u32"], ["offset", "i64"], ["data", "rest"]] },
  0x25: { name: "Ack", dir: "both", fields: [["id", "u32"], ["written", "i64"]] },
  0x26: { name: "Done", dir: "both", fields: [["id", "u32"], ["size", "i64"], ["sha256", "sha256"]] },
  0x27: { name: "Verified", dir: "both", fields: [["id", "u32"], ["sha256", "sha256"]] },
  0x28: { name: "Cancel", dir: "both", fields: [["id", "u32"], ["by", "str"], ["reason", "str"]] },
  0x29: { name: "Fail", dir: "both", fields: [["id", "u32"], ["reason", "str"]] },
  0x2a: { name: "Held", dir: "sc", fields: [["id", "u32"], ["fileId", "str"], ["recipients", "u32"]] },
  0x2b: { name: "Delivery", dir: "sc", fields: [["fileId", "str"], ["file", "str"], ["to", "str"], ["state", "u8"], ["bytes", "i64"], ["size", "i64"], ["reason", "str"]] },
  0x2c: { name: "GetFile", dir: "cs", fields: [["fileId", "str"]] },
  0x2d: { name: "Claim", dir: "cs", fields: [["id", "u32"], ["sha256", "sha256"]] },
  0x2e: { name: "Prove", dir: "sc", fields: [["id", "u32"], ["offset", "i64"], ["length", "u32"], ["nonce", "bin8"]] },
  0x2f: { name: "Proof", dir: "cs", fields: [["id", "u32"], ["sha256", "sha256"]] },
  0x30: { name: "JoinRoom", dir: "cs", fields: [["room", "str"]] },
  0x31: { name: "LeaveRoom", dir: "cs", fields: [["room", "str"]] },
  0x32: { name: "RoomsRequest", dir: "cs", fields: [] },
  0x33: { name: "MembersRequest", dir: "cs", fields: [["room", "str"]] },
  0x34: { name: "SetTopic", dir: "cs", fields: [["room", "str"], ["topic", "str"]] },
  0x35: { name: "RoomJoined", dir: "sc", fields: [["room", "str"], ["topic", "str"], ["members", "u32"], ["rejoined", "flag"]] },
  0x36: { name: "RoomLeft", dir: "sc", fields: [["room", "str"], ["code", "u16"], ["reason", "str"]] },
  0x37: { name: "RoomList", dir: "sc", fields: [["rooms", "roomlist"]] },
  0x38: { name: "MemberList", dir: "sc", fields: [["room", "str"], ["members", "memberlist"]] },
  0x39: { name: "RoomTopic", dir: "sc", fields: [["room", "str"], ["by", "str"], ["at", "i64"], ["topic", "str"]] },
  0x3a: { name: "MemberJoined", dir: "sc", fields: [["room", "str"], ["name", "str"]] },
  0x3b: { name: "MemberLeft", dir: "sc", fields: [["room", "str"], ["name", "str"]] },
  0x3c: { name: "RoomRefused", dir: "sc", fields: [["room", "str"], ["code", "u16"], ["reason", "str"]] },
  0x40: { name: "LinkHello", dir: "link", fields: [["version", "u16"], ["tokenKey", "bin8"]] },
  0x41: { name: "LinkMessage", dir: "link", fields: [["manifest", "str"], ["target", "str"], ["sender", "str"], ["payload", "rest"]] },
  0x50: { name: "HistoryRequest", dir: "cs", fields: [["target", "str"], ["before", "i64"], ["count", "u16"]] },
  0x51: { name: "History", dir: "sc", fields: [["from", "str"], ["to", "str"], ["at", "i64"], ["seq", "i64"], ["text", "str"]] },
  0x52: { name: "HistoryEnd", dir: "sc", fields: [["target", "str"], ["oldest", "i64"], ["more", "flag"]] },
  0x53: { name: "Unregister", dir: "cs", fields: [] },
  0x54: { name: "NameStatus", dir: "sc", fields: [["name", "str"], ["registered", "flag"], ["reason", "str"]] },
};

const TYPE_OF: Record<string, number> = {};
for (const [t, s] of Object.entries(S)) TYPE_OF[s.name] = Number(t);

// ---- Frame types ----------------------------------------------------------------------------------------------

export interface Hello { type: "Hello"; version: number; maxFrame: number; name: string; token: string; resumeKey: Uint8Array }
export interface Welcome {
  type: "Welcome"; version: number; maxFrame: number; serverName: string; yourName: string; resumeKey: Uint8Array;
  registered: boolean; chatRate: number; chatBurst: number; whoRate: number; whoBurst: number; offerRate: number;
  offerBurst: number; roomRate: number; roomBurst: number; historyRate: number; historyBurst: number; online: string[];
}
export interface Refused { type: "Refused"; code: number; reason: string }
export interface Ping { type: "Ping" }
export interface Goodbye { type: "Goodbye"; code: number; reason: string }
export interface ErrorFrame { type: "Error"; code: number; message: string }
export interface Say { type: "Say"; id: number; to: string; text: string }
export interface Chat { type: "Chat"; from: string; to: string; at: number; text: string }
export interface PeerJoined { type: "PeerJoined"; name: string }
export interface PeerLeft { type: "PeerLeft"; name: string }
export interface WhoRequest { type: "WhoRequest" }
export interface WhoReply { type: "WhoReply"; names: string[] }
export interface SayAck { type: "SayAck"; id: number; at: number; held: boolean }
export interface SayRefused { type: "SayRefused"; id: number; code: number; reason: string }
export interface Offer { type: "Offer"; id: number; from: string; senderId: Uint8Array; to: string; file: string; size: number; fingerprint: bigint }
export interface Accept { type: "Accept"; id: number; offset: number; prefix: Uint8Array; maxChunk: number; window: number }
export interface Reject { type: "Reject"; id: number; reason: string }
export interface Start { type: "Start"; id: number; offset: number; window: number }
export interface Chunk { type: "Chunk"; id: number; offset: number; data: Uint8Array }
export interface Ack { type: "Ack"; id: number; written: number }
export interface Done { type: "Done"; id: number; size: number; sha256: Uint8Array }
export interface Verified { type: "Verified"; id: number; sha256: Uint8Array }
export interface Cancel { type: "Cancel"; id: number; by: string; reason: string }
export interface Fail { type: "Fail"; id: number; reason: string }
export interface Held { type: "Held"; id: number; fileId: string; recipients: number }
export interface Delivery { type: "Delivery"; fileId: string; file: string; to: string; state: number; bytes: number; size: number; reason: string }
export interface GetFile { type: "GetFile"; fileId: string }
export interface Claim { type: "Claim"; id: number; sha256: Uint8Array }
export interface Prove { type: "Prove"; id: number; offset: number; length: number; nonce: Uint8Array }
export interface Proof { type: "Proof"; id: number; sha256: Uint8Array }
export interface JoinRoom { type: "JoinRoom"; room: string }
export interface LeaveRoom { type: "LeaveRoom"; room: string }
export interface RoomsRequest { type: "RoomsRequest" }
export interface MembersRequest { type: "MembersRequest"; room: string }
export interface SetTopic { type: "SetTopic"; room: string; topic: string }
export interface RoomJoined { type: "RoomJoined"; room: string; topic: string; members: number; rejoined: boolean }
export interface RoomLeft { type: "RoomLeft"; room: string; code: number; reason: string }
export interface RoomList { type: "RoomList"; rooms: { room: string; members: number; topic: string }[] }
export interface MemberList { type: "MemberList"; room: string; members: { name: string; online: boolean }[] }
export interface RoomTopic { type: "RoomTopic"; room: string; by: string; at: number; topic: string }
export interface MemberJoined { type: "MemberJoined"; room: string; name: string }
export interface MemberLeft { type: "MemberLeft"; room: string; name: string }
export interface RoomRefused { type: "RoomRefused"; room: string; code: number; reason: string }
export interface LinkHello { type: "LinkHello"; version: number; tokenKey: Uint8Array }
export interface LinkMessage { type: "LinkMessage"; manifest: string; target: string; sender: string; payload: Uint8Array }
export interface HistoryRequest { type: "HistoryRequest"; target: string; before: number; count: number }
export interface History { type: "History"; from: string; to: string; at: number; seq: number; text: string }
export interface HistoryEnd { type: "HistoryEnd"; target: string; oldest: number; more: boolean }
export interface Unregister { type: "Unregister" }
export interface NameStatus { type: "NameStatus"; name: string; registered: boolean; reason: string }

export type Frame =
  | Hello | Welcome | Refused | Ping | Goodbye | ErrorFrame | Say | Chat | PeerJoined | PeerLeft | WhoRequest
  | WhoReply | SayAck | SayRefused | Offer | Accept | Reject | Start | Chunk | Ack | Done | Verified | Cancel | Fail
  | Held | Delivery | GetFile | Claim | Prove | Proof | JoinRoom | LeaveRoom | RoomsRequest | MembersRequest
  | SetTopic | RoomJoined | RoomLeft | RoomList | MemberList | RoomTopic | MemberJoined | MemberLeft | RoomRefused
  | LinkHello | LinkMessage | HistoryRequest | History | HistoryEnd | Unregister | NameStatus;

/** Frames a client may send (C→S or both). */
export type ClientFrame =
  | Hello | Ping | Goodbye | Say | WhoRequest | Offer | Accept | Reject | Start | Chunk | Ack | Done | Verified
  | Cancel | Fail | GetFile | Claim | Proof | JoinRoom | LeaveRoom | RoomsRequest | MembersRequest | SetTopic
  | HistoryRequest | Unregister;

// ---- Encoding -------------------------------------------------------------------------------------------------

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

class Writer {
  buf: Bytes;
  view: DataView;
  pos = 0;
  constructor(size = 256) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void { this.room(1); this.view.setUint8(this.pos, v); this.pos += 1; }
  u16(v: number): void { this.room(2); this.view.setUint16(this.pos, v); this.pos += 2; }
  u32(v: number): void { this.room(4); this.view.setUint32(this.pos, v); this.pos += 4; }
  i64(v: number | bigint): void {
    this.room(8);
    this.view.setBigInt64(this.pos, typeof v === "bigint" ? v : BigInt(v));
    this.pos += 8;
  }
  bytes(b: Uint8Array): void { this.room(b.length); this.buf.set(b, this.pos); this.pos += b.length; }
  str(s: string): void {
    const b = utf8.encode(s);
    if (b.length > 0xffff) throw new RangeError(`text of ${b.length} bytes is longer than 65,535`);
    this.u16(b.length);
    this.bytes(b);
  }
  bin8(b: Uint8Array): void {
    if (b.length > 0xff) throw new RangeError("bin8 field longer than 255 bytes");
    this.u8(b.length);
    this.bytes(b);
  }
}

function checkUint(v: unknown, max: number, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what}: ${String(v)} out of range`);
  return v;
}

/** Encodes any frame of the table (the client sends only ClientFrame). Returns the whole frame, length included. */
export function encode(frame: Frame): Bytes {
  const type = TYPE_OF[frame.type];
  const schema = type === undefined ? undefined : S[type];
  if (type === undefined || schema === undefined) throw new RangeError(`unknown frame ${frame.type}`);
  const w = new Writer();
  w.u32(0);
  w.u8(type);
  const f = frame as unknown as Record<string, unknown>;
  for (const [key, kind] of schema.fields) {
    const v = f[key];
    switch (kind) {
      case "magic": w.bytes(Uint8Array.from(MAGIC)); break;
      case "u8": w.u8(checkUint(v, 0xff, key)); break;
      case "u16": w.u16(checkUint(v, 0xffff, key)); break;
      case "u32": w.u32(checkUint(v, 0xffffffff, key)); break;
      case "flag": w.u8(v ? 1 : 0); break;
      case "i64":
        if (typeof v !== "number" || !Number.isSafeInteger(v)) throw new RangeError(`${key}: not an integer`);
        w.i64(v);
        break;
      case "ticks": w.i64(v as bigint); break;
      case "str": w.str(v as string); break;
      case "bin8": w.bin8(v as Uint8Array); break;
      case "sha256":
        if (!(v instanceof Uint8Array) || v.length !== 32) throw new RangeError(`${key}: not 32 bytes`);
        w.bytes(v);
        break;
      case "rest": w.bytes(v as Uint8Array); break;
      case "names": {
        const names = v as string[];
        w.u32(names.length);
        for (const n of names) w.str(n);
        break;
      }
      case "roomlist": {
        const rooms = v as RoomList["rooms"];
        w.u32(rooms.length);
        for (const r of rooms) { w.str(r.room); w.u32(r.members); w.str(r.topic); }
        break;
      }
      case "memberlist": {
        const members = v as MemberList["members"];
        w.u32(members.length);
        for (const m of members) { w.str(m.name); w.u8(m.online ? 1 : 0); }
        break;
      }
    }
  }
  w.view.setUint32(0, w.pos - 4);
  return w.buf.slice(0, w.pos);
}

/** A Chunk frame, written in one allocation (the hot path of sending). */
export function encodeChunk(id: number, offset: number, data: Uint8Array): Bytes {
  const out = new Uint8Array(17 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, 13 + data.length);
  v.setUint8(4, 0x24);
  v.setUint32(5, id);
  v.setBigInt64(9, BigInt(offset));
  out.set(data, 17);
  return out;
}

// ---- Decoding -------------------------------------------------------------------------------------------------

class Reader {
  private pos = 1;
  private readonly view: DataView;
  constructor(private readonly b: Uint8Array, private readonly what: string) {
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  private need(n: number): void {
    if (this.pos + n > this.b.length) throw new ProtocolError(`${this.what}: payload shorter than its fields`);
  }
  u8(): number { this.need(1); return this.view.getUint8(this.pos++); }
  u16(): number { this.need(2); const v = this.view.getUint16(this.pos); this.pos += 2; return v; }
  u32(): number { this.need(4); const v = this.view.getUint32(this.pos); this.pos += 4; return v; }
  big(): bigint { this.need(8); const v = this.view.getBigInt64(this.pos); this.pos += 8; return v; }
  flag(): boolean {
    const v = this.u8();
    if (v > 1) throw new ProtocolError(`${this.what}: a flag of ${v}`);
    return v === 1;
  }
  bytes(n: number): Uint8Array { this.need(n); const v = this.b.slice(this.pos, this.pos + n); this.pos += n; return v; }
  str(): string {
    const n = this.u16();
    this.need(n);
    try {
      return strictUtf8.decode(this.b.subarray(this.pos, (this.pos += n)));
    } catch {
      throw new ProtocolError(`${this.what}: invalid UTF-8`);
    }
  }
  rest(): Uint8Array {
    if (this.pos >= this.b.length) throw new ProtocolError(`${this.what}: empty data`);
    const v = this.b.slice(this.pos);
    this.pos = this.b.length;
    return v;
  }
  end(): void {
    if (this.pos !== this.b.length) throw new ProtocolError(`${this.what}: ${this.b.length - this.pos} bytes after the last field`);
  }
}

/** i64 fields that may never be negative. */
const NON_NEGATIVE = new Set(["size", "offset", "written", "bytes", "seq", "oldest", "before"]);
/** Frame types whose `id` is a transfer id, which is never 0. */
const TRANSFER_ID = new Set([0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2d, 0x2e, 0x2f]);

/**
 * Decodes one frame from `body` (type and payload, without the length). `allowed` says which
 * directions are acceptable: a client passes "client" and gets a ProtocolError for frames only
 * a client or a node link may send.
 */
export function decode(body: Uint8Array, allowed: "client" | "any" = "client"): Frame {
  if (body.length < 1) throw new ProtocolError("a frame of length 0");
  const type = body[0]!;
  const schema = S[type];
  if (!schema) throw new ProtocolError(`unknown frame type 0x${type.toString(16).padStart(2, "0")}`);
  if (allowed === "client" && (schema.dir === "cs" || schema.dir === "link"))
    throw new ProtocolError(`${schema.name} (0x${type.toString(16)}) is not a frame a server sends`);
  const r = new Reader(body, schema.name);
  const out: Record<string, unknown> = { type: schema.name };
  for (const [key, kind] of schema.fields) {
    switch (kind) {
      case "magic": {
        const m = r.bytes(4);
        if (m.some((b, i) => b !== MAGIC[i])) throw new ProtocolError("Hello: magic is not ATTP");
        break;
      }
      case "u8": out[key] = r.u8(); break;
      case "u16": out[key] = r.u16(); break;
      case "u32": out[key] = r.u32(); break;
      case "flag": out[key] = r.flag(); break;
      case "i64": {
        const v = r.big();
        if (v < 0n && NON_NEGATIVE.has(key)) throw new ProtocolError(`${schema.name}: negative ${key}`);
        out[key] = Number(v);
        break;
      }
      case "ticks": out[key] = r.big(); break;
      case "str": out[key] = r.str(); break;
      case "bin8": out[key] = r.bytes(r.u8()); break;
      case "sha256": out[key] = r.bytes(32); break;
      case "rest": out[key] = r.rest(); break;
      case "names": {
        const n = r.u32();
        const names: string[] = [];
        for (let i = 0; i < n; i++) names.push(r.str());
        out[key] = names;
        break;
      }
      case "roomlist": {
        const n = r.u32();
        const rooms: RoomList["rooms"] = [];
        for (let i = 0; i < n; i++) rooms.push({ room: r.str(), members: r.u32(), topic: r.str() });
        out[key] = rooms;
        break;
      }
      case "memberlist": {
        const n = r.u32();
        const members: MemberList["members"] = [];
        for (let i = 0; i < n; i++) members.push({ name: r.str(), online: r.flag() });
        out[key] = members;
        break;
      }
    }
  }
  r.end();
  if (TRANSFER_ID.has(type) && out["id"] === 0) throw new ProtocolError(`${schema.name}: transfer id 0`);
  return out as unknown as Frame;
}

// ---- Stream reassembly ----------------------------------------------------------------------------------------

/**
 * Accumulates bytes as they come (WebSocket messages, whose boundaries mean nothing) and yields whole
 * frame bodies. A returned body is a view into the internal buffer, valid until the next push().
 */
export class FrameReader {
  private buf = new Uint8Array(1 << 17);
  private start = 0;
  private end = 0;
  constructor(private readonly maxFrame: number) {}

  push(data: Uint8Array): void {
    if (this.start === this.end) { this.start = 0; this.end = 0; }
    if (this.end + data.length > this.buf.length) {
      const live = this.end - this.start;
      if (live + data.length > this.buf.length) {
        let size = this.buf.length * 2;
        while (size < live + data.length) size *= 2;
        const next = new Uint8Array(size);
        next.set(this.buf.subarray(this.start, this.end));
        this.buf = next;
      } else {
        this.buf.copyWithin(0, this.start, this.end);
      }
      this.start = 0;
      this.end = live;
    }
    this.buf.set(data, this.end);
    this.end += data.length;
  }

  /** The next whole frame body (type + payload), or null when more bytes are needed. */
  next(): Uint8Array | null {
    const avail = this.end - this.start;
    if (avail < 4) return null;
    const b = this.buf;
    const s = this.start;
    const len = ((b[s]! << 24) | (b[s + 1]! << 16) | (b[s + 2]! << 8) | b[s + 3]!) >>> 0;
    if (len === 0) throw new ProtocolError("a frame of length 0");
    if (len > this.maxFrame) throw new ProtocolError(`a frame of ${len} bytes, above the limit of ${this.maxFrame}`);
    if (avail < 4 + len) return null;
    this.start = s + 4 + len;
    return b.subarray(s + 4, s + 4 + len);
  }
}

// ---- Helpers --------------------------------------------------------------------------------------------------

export function toHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

export function fromHex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new RangeError("not hex");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function utf8Length(s: string): number {
  return utf8.encode(s).length;
}
