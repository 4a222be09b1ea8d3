// Checks the frame codec against the hex table at the end of docs/PROTOCOL.md: every row decodes to the
// frame it names and re-encodes to the same bytes, and the stream reader reassembles frames cut anywhere.
// Run with `npm test` (node's test runner; esbuild compiles src/codec.ts in memory).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = fileURLToPath(new URL(".", import.meta.url));
const built = await esbuild.build({
  entryPoints: [here + "../src/codec.ts"], bundle: true, format: "esm", write: false, platform: "neutral",
});
const codec = await import("data:text/javascript;base64," + Buffer.from(built.outputFiles[0].contents).toString("base64"));
const { decode, encode, encodeChunk, FrameReader, ProtocolError, fromHex } = codec;

const doc = readFileSync(here + "../../../../docs/PROTOCOL.md", "utf8");
const table = doc.slice(doc.indexOf("## Every frame in hex"));
const rows = [...table.matchAll(/^\| 0x([0-9a-f]{2}) \| (\w+)[^|]*\| `([0-9a-f ]+)` \|$/gm)].map((m) => ({
  type: parseInt(m[1], 16), name: m[2], bytes: fromHex(m[3]),
}));

test("the table has every frame type, once", () => {
  assert.equal(rows.length, 50);
  assert.equal(new Set(rows.map((r) => r.type)).size, 50);
});

for (const row of rows) {
  test(`0x${row.type.toString(16).padStart(2, "0")} ${row.name} decodes and re-encodes`, () => {
    const len = new DataView(row.bytes.buffer).getUint32(0);
    assert.equal(len, row.bytes.length - 4);
    const frame = decode(row.bytes.subarray(4), "any");
    assert.equal(frame.type, row.name);
    assert.deepEqual(encode(frame), row.bytes);
    const reader = new FrameReader(73728);
    reader.push(row.bytes);
    assert.deepEqual(reader.next(), row.bytes.subarray(4));
    assert.equal(reader.next(), null);
  });
}

test("values of the table", () => {
  const get = (name) => decode(rows.find((r) => r.name === name).bytes.subarray(4), "any");
  const w = get("Welcome");
  assert.deepEqual([w.serverName, w.yourName, w.registered, w.chatRate, w.chatBurst, w.historyBurst, w.online],
    ["server", "alice", true, 20, 200, 5, ["server", "bob"]]);
  assert.equal(get("Say").text, "héllo 世界 🎉");
  assert.equal(get("Chat").at, 1700000000123);
  const o = get("Offer");
  assert.deepEqual([o.id, o.file, o.size, o.fingerprint], [0x0a0b0c0d, "album/sub/b.bin", 5000000000, 638000000000000000n]);
  assert.equal(get("Chunk").offset, 4294967296);
  assert.deepEqual(get("RoomList").rooms[1], { room: "#rust", members: 12, topic: "" });
  assert.deepEqual(get("MemberList").members, [{ name: "alice", online: true }, { name: "bob", online: false }]);
  const c = get("Chunk");
  assert.deepEqual(encodeChunk(c.id, c.offset, c.data), rows.find((r) => r.name === "Chunk").bytes);
});

test("the clear refusal", () => {
  const m = doc.match(/<!-- clear-refusal -->\s*```\s*([0-9a-f ]+)\s*```/);
  const b = fromHex(m[1]);
  const f = decode(b.subarray(4));
  assert.equal(f.type, "Refused");
  assert.equal(f.code, 16);
  assert.match(f.reason, /^this server requires TLS/);
});

test("a client refuses frames only a client or a node sends", () => {
  for (const name of ["Hello", "Say", "WhoRequest", "JoinRoom", "HistoryRequest", "Claim", "LinkHello", "LinkMessage"]) {
    const row = rows.find((r) => r.name === name);
    assert.throws(() => decode(row.bytes.subarray(4)), ProtocolError, name);
  }
  for (const name of ["Welcome", "Chat", "Offer", "Chunk", "Cancel", "Held", "Delivery", "History"]) {
    const row = rows.find((r) => r.name === name);
    assert.doesNotThrow(() => decode(row.bytes.subarray(4)), name);
  }
});

test("violations", () => {
  const bad = (hex) => assert.throws(() => decode(fromHex(hex)), ProtocolError, hex);
  bad("ff");                                    // unknown type
  bad("05 0008 0003 6279");                     // short payload
  bad("05 0008 0003 627965 00");                // bytes left over
  bad("12 0002 c328");                          // invalid UTF-8
  bad("16 00000007 0000018bcfe5687b 02");       // flag 2
  bad("25 00000007 ffffffffffffffff");          // negative written
  bad("25 00000000 0000000000000001");          // transfer id 0
  bad("24 00000007 0000000000000000");          // a chunk without data
  const r = new FrameReader(100);
  r.push(fromHex("00000065"));
  assert.throws(() => r.next(), ProtocolError);
  const z = new FrameReader(100);
  z.push(fromHex("00000000"));
  assert.throws(() => z.next(), ProtocolError);
});

test("frames cut anywhere and glued together come out whole", () => {
  const all = Buffer.concat(rows.filter((r) => r.type < 0x40).map((r) => r.bytes));
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let round = 0; round < 50; round++) {
    const reader = new FrameReader(73728);
    const got = [];
    for (let pos = 0; pos < all.length;) {
      const n = Math.min(all.length - pos, 1 + Math.floor(rnd() * (round < 25 ? 7 : 300)));
      reader.push(new Uint8Array(all.subarray(pos, pos + n)));
      pos += n;
      for (let f; (f = reader.next()) !== null;) got.push(decode(f, "any").type);
    }
    assert.deepEqual(got, rows.filter((r) => r.type < 0x40).map((r) => r.name));
  }
});
