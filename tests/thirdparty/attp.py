"""A small, standard-library-only client for the AkkaTcpTransfer wire protocol, version 1.

Written from docs/PROTOCOL.md alone. Frames are `Frame` objects: `f.kind` is the frame's name ("Welcome", "Chat"...)
and every payload field is an attribute (`f.your_name`, `f.text`...).
"""
from __future__ import annotations

import hashlib
import os
import random
import select
import socket
import struct
import time
from types import SimpleNamespace

VERSION = 1
MAGIC = b"ATTP"
DEFAULT_MAX_FRAME = 73_728
PING_AFTER = 5.0          # seconds with nothing sent before we send a Ping ("after a few seconds")

# Codes (Refused, Goodbye, Error)
NORMAL, UNSUPPORTED_VERSION, BAD_TOKEN, NAME_TAKEN, INVALID_NAME, SERVER_FULL, HANDSHAKE_TIMEOUT, \
    PROTOCOL_VIOLATION, SHUTTING_DOWN, IDLE_TIMEOUT, SLOW_CONSUMER, REPLACED, UNKNOWN_PEER, TOO_LONG, \
    INVALID_MESSAGE, RATE_LIMITED = range(16)

# type -> (name, [(field, kind)]).  Kinds: u8 u16 u32 i64 str bin8 names sha256 rest magic
FRAMES = {
    0x01: ("Hello", [("magic", "magic"), ("version", "u16"), ("max_frame", "u32"), ("name", "str"),
                     ("token", "str"), ("resume_key", "bin8")]),
    0x02: ("Welcome", [("version", "u16"), ("max_frame", "u32"), ("server_name", "str"), ("your_name", "str"),
                       ("resume_key", "bin8"), ("online", "names")]),
    0x03: ("Refused", [("code", "u16"), ("reason", "str")]),
    0x04: ("Ping", []),
    0x05: ("Goodbye", [("code", "u16"), ("reason", "str")]),
    0x06: ("Error", [("code", "u16"), ("message", "str")]),
    0x10: ("Say", [("to", "str"), ("text", "str")]),
    0x11: ("Chat", [("from_", "str"), ("to", "str"), ("at", "i64"), ("text", "str")]),
    0x12: ("PeerJoined", [("name", "str")]),
    0x13: ("PeerLeft", [("name", "str")]),
    0x14: ("WhoRequest", []),
    0x15: ("WhoReply", [("names", "names")]),
    0x20: ("Offer", [("id", "u32"), ("from_", "str"), ("sender_id", "bin8"), ("to", "str"), ("file", "str"),
                     ("size", "i64"), ("fingerprint", "i64")]),
    0x21: ("Accept", [("id", "u32"), ("offset", "i64"), ("prefix_sha256", "bin8"), ("max_chunk", "u32"),
                      ("window", "u32")]),
    0x22: ("Reject", [("id", "u32"), ("reason", "str")]),
    0x23: ("Start", [("id", "u32"), ("offset", "i64"), ("window", "u32")]),
    0x24: ("Chunk", [("id", "u32"), ("offset", "i64"), ("data", "rest")]),
    0x25: ("Ack", [("id", "u32"), ("written", "i64")]),
    0x26: ("Done", [("id", "u32"), ("size", "i64"), ("sha256", "sha256")]),
    0x27: ("Verified", [("id", "u32"), ("sha256", "sha256")]),
    0x28: ("Cancel", [("id", "u32"), ("by", "str"), ("reason", "str")]),
    0x29: ("Fail", [("id", "u32"), ("reason", "str")]),
}
TYPES = {name: (t, fields) for t, (name, fields) in FRAMES.items()}
TRANSFER_KINDS = {name for t, (name, _) in FRAMES.items() if t >= 0x20}


class ProtocolError(Exception):
    """The peer broke the protocol (or we were asked to decode bytes that do)."""


class Closed(Exception):
    """The connection ended (`frame` is the Goodbye/Refused that ended it, if any)."""

    def __init__(self, msg, frame=None):
        super().__init__(msg)
        self.frame = frame


class Refused(Exception):
    def __init__(self, frame):
        super().__init__(f"refused {frame.code}: {frame.reason}")
        self.frame = frame
        self.code = frame.code


class TransferFailed(Exception):
    def __init__(self, frame):
        super().__init__(f"{frame.kind}: {getattr(frame, 'reason', '')}")
        self.frame = frame


class Frame(SimpleNamespace):
    def __repr__(self):
        fields = {k: (v if not isinstance(v, bytes) or len(v) <= 40 else f"<{len(v)} bytes>")
                  for k, v in vars(self).items() if k != "kind"}
        return f"{self.kind}{fields}"


# ---------------------------------------------------------------------------------------------------------- codec

def _str(s: str) -> bytes:
    b = s.encode("utf-8")
    if len(b) > 0xFFFF:
        raise ValueError("str longer than 65535 bytes")
    return struct.pack(">H", len(b)) + b


def encode(kind: str, **fields) -> bytes:
    """One whole frame (length, type, payload). Fields not given default to empty/zero; Hello's magic is implied."""
    t, layout = TYPES[kind]
    out = [bytes([t])]
    for name, k in layout:
        v = fields.get(name, fields.get(name.rstrip("_")))
        if k == "magic":
            out.append(MAGIC if v is None else v)
        elif k in ("u8", "u16", "u32", "i64"):
            out.append(struct.pack({"u8": ">B", "u16": ">H", "u32": ">I", "i64": ">q"}[k], v or 0))
        elif k == "str":
            out.append(_str(v or ""))
        elif k == "bin8":
            v = v or b""
            out.append(bytes([len(v)]) + v)
        elif k == "names":
            v = v or []
            out.append(struct.pack(">I", len(v)) + b"".join(_str(n) for n in v))
        elif k == "sha256":
            assert len(v) == 32
            out.append(v)
        elif k == "rest":
            out.append(v)
    body = b"".join(out)
    return struct.pack(">I", len(body)) + body


def decode(body: bytes) -> Frame:
    """Decode type + payload (without the length), strictly: unknown type, short payload, trailing bytes,
    invalid UTF-8 and impossible values raise ProtocolError."""
    if not body:
        raise ProtocolError("length 0")
    if body[0] not in FRAMES:
        raise ProtocolError(f"unknown frame type 0x{body[0]:02x}")
    kind, layout = FRAMES[body[0]]
    p, pos, f = body, 1, Frame(kind=kind)

    def take(n):
        nonlocal pos
        if pos + n > len(p):
            raise ProtocolError(f"{kind}: payload too short")
        pos += n
        return p[pos - n:pos]

    def text():
        try:
            return take(struct.unpack(">H", take(2))[0]).decode("utf-8", errors="strict")
        except UnicodeDecodeError as e:
            raise ProtocolError(f"{kind}: invalid UTF-8") from e

    for name, k in layout:
        if k == "magic":
            v = take(4)
        elif k == "u8":
            v = take(1)[0]
        elif k == "u16":
            v = struct.unpack(">H", take(2))[0]
        elif k == "u32":
            v = struct.unpack(">I", take(4))[0]
        elif k == "i64":
            v = struct.unpack(">q", take(8))[0]
            if v < 0 and name in ("size", "offset", "written"):
                raise ProtocolError(f"{kind}: negative {name}")
        elif k == "str":
            v = text()
        elif k == "bin8":
            v = take(take(1)[0])
        elif k == "names":
            v = [text() for _ in range(struct.unpack(">I", take(4))[0])]
        elif k == "sha256":
            v = take(32)
        else:  # rest
            v = take(len(p) - pos)
            if not v:
                raise ProtocolError(f"{kind}: empty {name}")
        setattr(f, name, v)
    if pos != len(p):
        raise ProtocolError(f"{kind}: {len(p) - pos} bytes after the last field")
    if kind in TRANSFER_KINDS and f.id == 0:
        raise ProtocolError(f"{kind}: transfer id 0")
    if kind == "Hello" and f.magic != MAGIC:
        raise ProtocolError("Hello: bad magic")
    if kind == "Offer" and len(f.sender_id) > 32 or kind == "Accept" and len(f.prefix_sha256) not in (0, 32):
        raise ProtocolError(f"{kind}: bad bin8 length")
    return f


def split_frames(buf: bytearray, limit: int):
    """Pop every whole frame off the front of buf; checks each length against limit before waiting for it."""
    frames = []
    while len(buf) >= 4:
        n = struct.unpack(">I", buf[:4])[0]
        if n == 0 or n > limit:
            raise ProtocolError(f"frame length {n} (limit {limit})")
        if len(buf) < 4 + n:
            break
        frames.append(decode(bytes(buf[4:4 + n])))
        del buf[:4 + n]
    return frames


# ---------------------------------------------------------------------------------------------------------- client

class Client:
    """One connection. Frames that a wait did not ask for are kept (in order) for the next wait."""

    def __init__(self, sock: socket.socket, max_frame=DEFAULT_MAX_FRAME):
        self.sock, self.max_frame = sock, max_frame
        self.buf, self.backlog = bytearray(), []
        self.welcome = None
        self.peer_max_frame = DEFAULT_MAX_FRAME
        self.last_sent = time.monotonic()
        self.closed = None            # the reason, once the peer closed
        self.keep_pings = False
        self.ping_after = PING_AFTER  # None: never send our own Pings (tests of the server's idle timeout)

    # --- connection
    @classmethod
    def open(cls, host, port, max_frame=DEFAULT_MAX_FRAME, timeout=10):
        return cls(socket.create_connection((host, port), timeout=timeout), max_frame)

    @classmethod
    def connect(cls, host, port, name, token="", resume_key=b"", max_frame=DEFAULT_MAX_FRAME, timeout=10):
        """Open, say Hello, return the client once Welcome arrives; raises Refused."""
        c = cls.open(host, port, max_frame)
        c.hello(name, token, resume_key)
        f = c.expect({"Welcome", "Refused"}, timeout)
        if f.kind == "Refused":
            c.close()
            raise Refused(f)
        return c

    def hello(self, name, token="", resume_key=b"", version=VERSION):
        self.send("Hello", version=version, max_frame=self.max_frame, name=name, token=token, resume_key=resume_key)

    @property
    def name(self):
        return self.welcome.your_name

    @property
    def server_name(self):
        return self.welcome.server_name

    def send_raw(self, data: bytes):
        self.sock.sendall(data)
        self.last_sent = time.monotonic()

    def send(self, kind, **fields):
        frame = encode(kind, **fields)
        if len(frame) - 4 > self.peer_max_frame:
            raise ValueError(f"{kind} of {len(frame) - 4} bytes exceeds the peer's max_frame {self.peer_max_frame}")
        self.send_raw(frame)

    def _read_more(self, timeout):
        if self.closed:
            raise Closed(self.closed)
        if self.welcome and self.ping_after and time.monotonic() - self.last_sent > self.ping_after:
            try:
                self.send("Ping")
            except OSError:
                pass
        r, _, _ = select.select([self.sock], [], [], max(0.0, min(timeout, 1.0)))
        if not r:
            return []
        try:
            data = self.sock.recv(1 << 20)
        except (ConnectionResetError, socket.timeout, OSError) as e:
            data, err = b"", e
        else:
            err = None
        if not data:
            self.closed = f"connection closed ({err or 'FIN'})"
            if self.buf:
                self.closed += f" with {len(self.buf)} bytes of a partial frame"
            return []
        self.buf += data
        frames = split_frames(self.buf, self.max_frame)
        for f in frames:
            if f.kind == "Welcome" and self.welcome is None:
                self.welcome, self.peer_max_frame = f, f.max_frame
        return [f for f in frames if f.kind != "Ping" or self.keep_pings]

    def recv(self, timeout=10.0) -> Frame:
        """The next frame; raises TimeoutError, or Closed once the connection ended."""
        if self.backlog:
            return self.backlog.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            self.backlog += self._read_more(deadline - time.monotonic())
            if self.backlog:
                return self.backlog.pop(0)
            if self.closed:
                raise Closed(self.closed)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no frame within {timeout}s")

    def expect(self, match, timeout=10.0) -> Frame:
        """Wait for the first frame matching (a kind, a set of kinds, or a predicate); others stay queued.
        A Goodbye or Refused that was not asked for raises Closed."""
        pred = match if callable(match) else (lambda f: f.kind in ({match} if isinstance(match, str) else match))
        deadline, seen = time.monotonic() + timeout, 0
        while True:
            for i in range(seen, len(self.backlog)):
                f = self.backlog[i]
                if pred(f):
                    return self.backlog.pop(i)
                if f.kind in ("Goodbye", "Refused"):
                    raise Closed(f"{f.kind} {f.code}: {f.reason}", f)
            seen = len(self.backlog)
            if self.closed:
                raise Closed(self.closed)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no {match if not callable(match) else 'matching frame'} within {timeout}s; "
                                   f"got {self.backlog[-5:]}")
            self.backlog += self._read_more(deadline - time.monotonic())

    def wait_closed(self, timeout=10.0):
        """Read (keeping frames in the backlog) until the peer closes; returns all frames that were pending."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"connection still open after {timeout}s")
            self.backlog += self._read_more(deadline - time.monotonic())
        return self.backlog

    def goodbye(self, code=NORMAL, reason="bye", timeout=5.0):
        """Goodbye, half-close, read until the peer's FIN."""
        try:
            self.send("Goodbye", code=code, reason=reason)
            self.sock.shutdown(socket.SHUT_WR)
            self.wait_closed(timeout)
        except (OSError, TimeoutError):
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # --- chat
    def say(self, text, to=""):
        self.send("Say", to=to, text=text)

    def who(self, timeout=10.0):
        self.send("WhoRequest")
        return self.expect("WhoReply", timeout).names

    # --- sending a file
    def send_file(self, data: bytes, file: str, to="", tid=None, fingerprint=None, window=None,
                  timeout=30.0, on_chunk=None):
        """Offer `data` as `file`, stream it, return the Verified frame. Raises TransferFailed on Reject/Fail/
        Cancel. on_chunk(client, tid, sent) is called after every chunk (tests use it to interleave frames)."""
        tid = tid or new_id()
        fingerprint = ticks_now() if fingerprint is None else fingerprint
        self.send("Offer", id=tid, from_="", sender_id=b"", to=to, file=file, size=len(data),
                  fingerprint=fingerprint)
        ours = lambda f: f.kind in TRANSFER_KINDS and f.id == tid
        acc = self.expect(lambda f: ours(f) and f.kind in ("Accept", "Reject", "Fail", "Cancel"), timeout)
        if acc.kind != "Accept":
            raise TransferFailed(acc)
        offset = acc.offset
        if offset and (offset > len(data) or hashlib.sha256(data[:offset]).digest() != acc.prefix_sha256):
            offset = 0                                   # our bytes differ: the receiver starts over
        win = min(acc.window, window or acc.window)
        chunk = min(acc.max_chunk, self.peer_max_frame - 13)
        if win <= 0 or chunk <= 0:
            raise ProtocolError(f"unusable Accept {acc}")
        self.send("Start", id=tid, offset=offset, window=win)
        sent = acked = offset
        while sent < len(data) or acked < len(data):
            while sent < len(data) and sent - acked < win:
                n = min(chunk, len(data) - sent, acked + win - sent)
                self.send("Chunk", id=tid, offset=sent, data=data[sent:sent + n])
                sent += n
                if on_chunk:
                    on_chunk(self, tid, sent)
            # A Reject after our Accept answers a *duplicate* offer of this id: it is left in the backlog.
            f = self.expect(lambda f: ours(f) and f.kind in ("Ack", "Fail", "Cancel"), timeout)
            if f.kind != "Ack":
                raise TransferFailed(f)
            if not (acked <= f.written <= sent):
                raise ProtocolError(f"Ack {f.written} outside [{acked}, {sent}]")
            acked = f.written
        sha = hashlib.sha256(data).digest()
        self.send("Done", id=tid, size=len(data), sha256=sha)
        f = self.expect(lambda f: ours(f) and f.kind in ("Verified", "Fail", "Cancel"), timeout)
        if f.kind != "Verified":
            raise TransferFailed(f)
        if f.sha256 != sha:
            raise ProtocolError("Verified with another SHA-256")
        return SimpleNamespace(id=tid, accept=acc, start_offset=offset, window=win, chunk=chunk, verified=f)

    # --- receiving a file
    def receive_file(self, dest_dir, offer=None, max_chunk=None, window=512 * 1024, timeout=30.0):
        """Accept the next Offer (or the given one), receive it strictly into dest_dir, compare at Done, answer
        Verified (returns a summary) or Fail (raises TransferFailed)."""
        offer = offer or self.expect("Offer", timeout)
        tid = offer.id
        max_chunk = max_chunk or min(65536, self.max_frame - 13)
        if not safe_name(offer.file):
            self.send("Reject", id=tid, reason="unsafe file name")
            raise TransferFailed(Frame(kind="Reject", id=tid, reason=f"unsafe file name {offer.file!r}"))
        os.makedirs(dest_dir, exist_ok=True)
        final = os.path.join(dest_dir, *offer.file.split("/"))
        part = os.path.join(dest_dir, f".{tid:08x}.part")
        self.send("Accept", id=tid, offset=0, prefix_sha256=b"", max_chunk=max_chunk, window=window)
        ours = lambda f: f.kind in TRANSFER_KINDS and f.id == tid
        start = self.expect(lambda f: ours(f) and f.kind in ("Start", "Cancel", "Fail"), timeout)
        if start.kind != "Start":
            raise TransferFailed(start)

        def fail(reason):
            self.send("Fail", id=tid, reason=reason)
            raise TransferFailed(Frame(kind="Fail", id=tid, reason=reason))

        if start.offset != 0 or not 0 < start.window <= window:
            fail(f"bad Start {start}")
        win, written, acked, h, largest = start.window, 0, 0, hashlib.sha256(), 0
        with open(part, "wb") as out:
            while True:
                f = self.expect(lambda f: ours(f) and f.kind in ("Chunk", "Done", "Cancel", "Fail"), timeout)
                if f.kind in ("Cancel", "Fail"):
                    raise TransferFailed(f)
                if f.kind == "Done":
                    break
                if f.offset != written:
                    fail(f"chunk at {f.offset}, expected {written}")
                if len(f.data) > max_chunk:
                    fail(f"chunk of {len(f.data)} bytes > max_chunk {max_chunk}")
                if written + len(f.data) > acked + win:
                    fail(f"chunk beyond the window: ends at {written + len(f.data)}, last Ack {acked}, window {win}")
                if written + len(f.data) > offer.size:
                    fail("more bytes than offered")
                out.write(f.data)
                h.update(f.data)
                written += len(f.data)
                largest = max(largest, len(f.data))
                if written - acked >= win // 4 or written == offer.size:
                    out.flush()
                    self.send("Ack", id=tid, written=written)
                    acked = written
        sha = h.digest()
        if f.size != written or f.size != offer.size or f.sha256 != sha:
            os.remove(part)
            fail(f"mismatch at Done: size {f.size} vs {written} written (offered {offer.size}), "
                 f"sha256 {'equal' if f.sha256 == sha else 'differs'}")
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.replace(part, final)
        self.send("Verified", id=tid, sha256=sha)
        return SimpleNamespace(id=tid, offer=offer, path=final, size=written, sha256=sha, largest_chunk=largest,
                               window=win)


# ---------------------------------------------------------------------------------------------------------- helpers

def new_id():
    return random.randint(1, 0xFFFFFFFF)


def ticks_now():
    """UTC ticks (100 ns since 0001-01-01), as Offer.fingerprint wants."""
    return (int(time.time() * 10_000_000)) + 621_355_968_000_000_000


def safe_name(path: str) -> bool:
    """The receiver's check of an offered file name (PROTOCOL.md, File transfer, `file`)."""
    import unicodedata
    if not path or len(path.encode()) > 4096 or path.startswith("/") or "\\" in path or ":" in path:
        return False
    for part in path.split("/"):
        if part in ("", ".", "..") or len(part.encode()) > 255 or part[-1] in " .":
            return False
        if part.split(".")[0].upper() in {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                                          *(f"LPT{i}" for i in range(1, 10))}:
            return False
        for ch in part:
            cat = unicodedata.category(ch)
            if cat == "Cc" or (cat == "Cf" and ch not in "\u200c\u200d") or ch in "\u180e":
                return False
    return True
