"""A small, standard-library-only client for the AkkaTcpTransfer wire protocol, version 5.

Written from docs/PROTOCOL.md alone. Frames are `Frame` objects: `f.kind` is the frame's name ("Welcome", "Chat"...)
and every payload field is an attribute (`f.your_name`, `f.text`...).

Chat (since version 3): every `Say` carries the client's number for the line, and the server answers each one, in
order, with `SayAck` (stored and passed on, stamped `at`; `held`: kept for an offline recipient) or `SayRefused`. `Client.say()` numbers lines from 1 and
returns the id; `Client.say_answer(id)` waits for that line's answer; `Client.rates` holds the rates the `Welcome`
announced (PROTOCOL.md, "Pace"). This client does not pace itself: a line beyond the rate simply waits at the server.

Rooms, history and registered names (version 4): `Client.join_room(room)` returns the `RoomJoined` (or
`RoomRefused`) with the run of `History` frames and the `HistoryEnd` that follow it; `Client.history(target, before,
count)` pages back; `Client.history_run(target)` collects a run the server sends without being asked (after
`Welcome`: the server-wide room's, each room's after its `RoomJoined` rejoined 1, the direct messages kept for us).
`RoomList` carries `rooms`, a list of `RoomInfo(room, members, topic)`; `MemberList` carries `members`, a list of
`MemberInfo(name, online)`. `flag` fields decode to bool (any byte but 0 and 1 is a violation).

Connections are TLS 1.3 by default (PROTOCOL.md, "TLS"): pass `tls=Tls(pin="<64 hex>")` to pin the server's key,
`tls=Tls()` to rely on a CA-issued certificate (or a key remembered in `KNOWN_SERVERS`), `tls=None` for a server
started with `--insecure`. The handshake runs through an `ssl.SSLObject` over `MemoryBIO`s so that the first byte the
server sends can be looked at: a refusal sent in the clear before TLS ("Refusals before TLS") reaches the caller
exactly like any other `Refused`.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import select
import socket
import ssl
import struct
import time
from collections import namedtuple
from types import SimpleNamespace

VERSION = 5
MAGIC = b"ATTP"
DEFAULT_MAX_FRAME = 73_728
PING_AFTER = 5.0          # seconds with nothing sent before we send a Ping ("after a few seconds")

# Codes (Refused, Goodbye, Error)
NORMAL, UNSUPPORTED_VERSION, BAD_TOKEN, NAME_TAKEN, INVALID_NAME, SERVER_FULL, HANDSHAKE_TIMEOUT, \
    PROTOCOL_VIOLATION, SHUTTING_DOWN, IDLE_TIMEOUT, SLOW_CONSUMER, REPLACED, UNKNOWN_PEER, TOO_LONG, \
    INVALID_MESSAGE, RATE_LIMITED, ENCRYPTION_MISMATCH, UNAVAILABLE, NOT_MEMBER, LIMIT_REACHED, NOT_STORED = range(21)

ALPN = "akt/1"

# RoomList entries and MemberList entries (PROTOCOL.md, "Rooms")
RoomInfo = namedtuple("RoomInfo", "room members topic")
MemberInfo = namedtuple("MemberInfo", "name online")

# type -> (name, [(field, kind)]).  Kinds: u8 u16 u32 i64 flag str bin8 names sha256 rest magic, and the two lists of
# version 4: rooms (u32 count, then count x (str, u32, str)) and members (u32 count, then count x (str, flag)).
FRAMES = {
    0x01: ("Hello", [("magic", "magic"), ("version", "u16"), ("max_frame", "u32"), ("name", "str"),
                     ("token", "str"), ("resume_key", "bin8")]),
    0x02: ("Welcome", [("version", "u16"), ("max_frame", "u32"), ("server_name", "str"), ("your_name", "str"),
                       ("resume_key", "bin8"), ("registered", "flag"), ("chat_rate", "u32"), ("chat_burst", "u32"),
                       ("who_rate", "u32"), ("who_burst", "u32"), ("offer_rate", "u32"), ("offer_burst", "u32"),
                       ("room_rate", "u32"), ("room_burst", "u32"), ("history_rate", "u32"),
                       ("history_burst", "u32"), ("online", "names")]),
    0x03: ("Refused", [("code", "u16"), ("reason", "str")]),
    0x04: ("Ping", []),
    0x05: ("Goodbye", [("code", "u16"), ("reason", "str")]),
    0x06: ("Error", [("code", "u16"), ("message", "str")]),
    0x10: ("Say", [("id", "u32"), ("to", "str"), ("text", "str")]),
    0x11: ("Chat", [("from_", "str"), ("to", "str"), ("at", "i64"), ("text", "str")]),
    0x12: ("PeerJoined", [("name", "str")]),
    0x13: ("PeerLeft", [("name", "str")]),
    0x14: ("WhoRequest", []),
    0x15: ("WhoReply", [("names", "names")]),
    0x16: ("SayAck", [("id", "u32"), ("at", "i64"), ("held", "flag")]),
    0x17: ("SayRefused", [("id", "u32"), ("code", "u16"), ("reason", "str")]),
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
    # Files the server keeps for their recipients (version 5)
    0x2A: ("Held", [("id", "u32"), ("file_id", "str"), ("recipients", "u32")]),
    0x2B: ("Delivery", [("file_id", "str"), ("file", "str"), ("to", "str"), ("state", "u8"), ("bytes", "i64"),
                        ("size", "i64"), ("reason", "str")]),
    0x2C: ("GetFile", [("file_id", "str")]),
    0x2D: ("Claim", [("id", "u32"), ("sha256", "sha256")]),
    0x2E: ("Prove", [("id", "u32"), ("offset", "i64"), ("length", "u32"), ("nonce", "bin8")]),
    0x2F: ("Proof", [("id", "u32"), ("sha256", "sha256")]),
    # Rooms (version 4)
    0x30: ("JoinRoom", [("room", "str")]),
    0x31: ("LeaveRoom", [("room", "str")]),
    0x32: ("RoomsRequest", []),
    0x33: ("MembersRequest", [("room", "str")]),
    0x34: ("SetTopic", [("room", "str"), ("topic", "str")]),
    0x35: ("RoomJoined", [("room", "str"), ("topic", "str"), ("members", "u32"), ("rejoined", "flag")]),
    0x36: ("RoomLeft", [("room", "str"), ("code", "u16"), ("reason", "str")]),
    0x37: ("RoomList", [("rooms", "rooms")]),
    0x38: ("MemberList", [("room", "str"), ("members", "members")]),
    0x39: ("RoomTopic", [("room", "str"), ("by", "str"), ("at", "i64"), ("topic", "str")]),
    0x3a: ("MemberJoined", [("room", "str"), ("name", "str")]),
    0x3b: ("MemberLeft", [("room", "str"), ("name", "str")]),
    0x3c: ("RoomRefused", [("room", "str"), ("code", "u16"), ("reason", "str")]),
    # History and registered names (version 4)
    0x50: ("HistoryRequest", [("target", "str"), ("before", "i64"), ("count", "u16")]),
    0x51: ("History", [("from_", "str"), ("to", "str"), ("at", "i64"), ("seq", "i64"), ("text", "str")]),
    0x52: ("HistoryEnd", [("target", "str"), ("oldest", "i64"), ("more", "flag")]),
    0x53: ("Unregister", []),
    0x54: ("NameStatus", [("name", "str"), ("registered", "flag"), ("reason", "str")]),
    # Between server nodes only ("Between server nodes"): never on a client's connection, known so the table decodes.
    0x40: ("LinkHello", [("version", "u16"), ("token_key", "bin8")]),
    0x41: ("LinkMessage", [("manifest", "str"), ("target", "str"), ("sender", "str"), ("payload", "rest")]),
}
TYPES = {name: (t, fields) for t, (name, fields) in FRAMES.items()}
# Frames of one transfer, routed by their id (Held, Delivery and GetFile, 0x2a-0x2c, are about kept files, not one transfer).
TRANSFER_KINDS = {name for t, (name, _) in FRAMES.items() if 0x20 <= t < 0x2A or 0x2D <= t <= 0x2F}


class ProtocolError(Exception):
    """The peer broke the protocol (or we were asked to decode bytes that do)."""


class Closed(Exception):
    """The connection ended (`frame` is the Goodbye/Refused that ended it, if any)."""

    def __init__(self, msg, frame=None):
        super().__init__(msg)
        self.frame = frame


class Refused(Exception):
    refused_in_clear = False     # True: sent in the clear instead of TLS ("Refusals before TLS")

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
        elif k == "flag":
            out.append(b"\x01" if v else b"\x00")
        elif k == "rooms":
            v = v or []
            out.append(struct.pack(">I", len(v)) + b"".join(_str(r) + struct.pack(">I", m) + _str(t) for r, m, t in v))
        elif k == "members":
            v = v or []
            out.append(struct.pack(">I", len(v)) + b"".join(_str(n) + (b"\x01" if o else b"\x00") for n, o in v))
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

    def flag(name):
        b = take(1)[0]
        if b > 1:                                   # "any other value is a violation"
            raise ProtocolError(f"{kind}: {name} flag is {b}, not 0 or 1")
        return b == 1

    def u32():
        return struct.unpack(">I", take(4))[0]

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
        elif k == "flag":
            v = flag(name)
        elif k == "rooms":
            v = [RoomInfo(text(), u32(), text()) for _ in range(u32())]
        elif k == "members":
            v = [MemberInfo(text(), flag("online")) for _ in range(u32())]
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


# ---------------------------------------------------------------------------------------------------------- TLS

class TlsError(ConnectionError):
    """The TLS layer failed: a handshake refused by either side (TLS version, ALPN), a server that did not select
    `akt/1`, an untrusted certificate, a record that does not decrypt."""


class ServerKeyMismatch(TlsError):
    """The server's public key is not the pinned (or remembered) one: someone may be in the middle."""

    def __init__(self, server, expected, actual):
        super().__init__(f"SERVER KEY MISMATCH for {server}: expected fingerprint {expected}, the server presented "
                         f"{actual}. Someone may be in the middle; not connecting.")
        self.server, self.expected, self.actual = server, expected, actual


def _der(buf: bytes, pos: int):
    """The DER element at pos: (tag, start of its value, end of its value). Single-byte tags, definite lengths."""
    if pos + 2 > len(buf):
        raise ValueError(f"DER: truncated at {pos}")
    tag, n = buf[pos], buf[pos + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError(f"DER: multi-byte tag at {pos}")
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if not 1 <= k <= 4 or pos + k > len(buf) or buf[pos] == 0:
            raise ValueError(f"DER: bad length at {pos}")
        n = int.from_bytes(buf[pos:pos + k], "big")
        pos += k
    if pos + n > len(buf):
        raise ValueError(f"DER: element at {pos} runs past the end")
    return tag, pos, pos + n


def spki_of_certificate(der: bytes) -> bytes:
    """The DER-encoded SubjectPublicKeyInfo of an X.509 certificate (RFC 5280):
    Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber INTEGER,
    signature AlgorithmIdentifier, issuer Name, validity Validity, subject Name, subjectPublicKeyInfo, ... }, ... }"""
    tag, start, end = _der(der, 0)
    if tag != 0x30 or end != len(der):
        raise ValueError("not a DER certificate")
    tag, pos, tbs_end = _der(der, start)
    if tag != 0x30:
        raise ValueError("tbsCertificate is not a SEQUENCE")
    tag, _, after = _der(der, pos)
    if tag == 0xA0:                                             # version [0] EXPLICIT (absent in v1 certificates)
        pos = after
    for field, want in (("serialNumber", 0x02), ("signature", 0x30), ("issuer", 0x30), ("validity", 0x30),
                        ("subject", 0x30)):
        tag, _, pos = _der(der, pos)
        if tag != want or pos > tbs_end:
            raise ValueError(f"tbsCertificate.{field}: tag 0x{tag:02x}, expected 0x{want:02x}")
    tag, value, end = _der(der, pos)
    if tag != 0x30 or end > tbs_end:
        raise ValueError("subjectPublicKeyInfo is not a SEQUENCE")
    tag, _, inner = _der(der, value)                            # algorithm AlgorithmIdentifier
    tag2, _, inner = _der(der, inner) if tag == 0x30 else (None, 0, 0)   # subjectPublicKey BIT STRING
    if tag != 0x30 or tag2 != 0x03 or inner != end:
        raise ValueError("subjectPublicKeyInfo is not { AlgorithmIdentifier, BIT STRING }")
    return der[pos:end]


def fingerprint_of_certificate(der: bytes) -> str:
    """PROTOCOL.md's fingerprint: SHA-256 of the DER SubjectPublicKeyInfo, 64 lowercase hex digits."""
    return hashlib.sha256(spki_of_certificate(der)).hexdigest()


def fingerprint_of_pem(path: str) -> str:
    """The fingerprint of the first certificate in a PEM file (the server prints its path)."""
    import base64
    text = open(path, encoding="ascii").read()
    b64 = text.split("-----BEGIN CERTIFICATE-----", 1)[1].split("-----END CERTIFICATE-----", 1)[0]
    return fingerprint_of_certificate(base64.b64decode("".join(b64.split())))


def normalize_fingerprint(fp: str) -> str:
    fp = fp.strip().lower()
    if len(fp) != 64 or any(ch not in "0123456789abcdef" for ch in fp):
        raise ValueError(f"a fingerprint is 64 hex digits, not {fp!r}")
    return fp


# "Remember it per server (host:port), and refuse a server whose key differs from the one remembered."
# host:port -> fingerprint; kept in KNOWN_SERVERS_FILE (JSON) when that is set.
KNOWN_SERVERS: dict[str, str] = {}
KNOWN_SERVERS_FILE = None


def _known(server):
    if KNOWN_SERVERS_FILE and not KNOWN_SERVERS and os.path.exists(KNOWN_SERVERS_FILE):
        KNOWN_SERVERS.update(json.load(open(KNOWN_SERVERS_FILE, encoding="utf-8")))
    return KNOWN_SERVERS.get(server)


def _remember(server, fp):
    if KNOWN_SERVERS.get(server) == fp:
        return
    KNOWN_SERVERS[server] = fp
    if KNOWN_SERVERS_FILE:
        with open(KNOWN_SERVERS_FILE, "w", encoding="utf-8") as f:
            json.dump(KNOWN_SERVERS, f, indent=1)


class Tls:
    """How to speak TLS to a server. `pin`: the server's fingerprint (64 hex); without one, a key remembered in
    KNOWN_SERVERS for host:port is required, and without that the certificate must chain to a trusted CA and name
    the host (`cafile`: extra trusted CAs). `alpn` and the versions may be changed only to test servers."""

    def __init__(self, pin=None, *, alpn=(ALPN,), min_version=ssl.TLSVersion.TLSv1_3,
                 max_version=ssl.TLSVersion.TLSv1_3, cafile=None, remember=True):
        self.pin = normalize_fingerprint(pin) if pin else None
        self.alpn, self.cafile, self.remember = alpn, cafile, remember
        self.min_version, self.max_version = min_version, max_version

    def __repr__(self):
        return f"Tls(pin={self.pin}, alpn={self.alpn}, versions={self.min_version.name}..{self.max_version.name})"

    def context(self, verify_ca: bool) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version, ctx.maximum_version = self.min_version, self.max_version
        if self.alpn is not None:
            ctx.set_alpn_protocols(list(self.alpn))
        if verify_ca:                                 # ordinary web PKI: dates, name, chain
            ctx.check_hostname, ctx.verify_mode = True, ssl.CERT_REQUIRED
            ctx.load_default_certs()
            if self.cafile:
                ctx.load_verify_locations(self.cafile)
        else:                                         # pinned key: only the key counts, not dates nor names
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        return ctx


class _PlainStream:
    """Frames directly on TCP (`--insecure`)."""
    tls_info = None

    def __init__(self, sock):
        self.sock, self.eof = sock, None

    def send(self, data):
        self.sock.sendall(data)

    def recv(self, timeout):
        """Bytes; b"" at the end (self.eof says how it ended); None if nothing came within timeout."""
        r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not r:
            return None
        data = self.sock.recv(1 << 20)
        if not data:
            self.eof = "FIN"
        return data

    def half_close(self):
        self.sock.shutdown(socket.SHUT_WR)


class _RefusedStream(_PlainStream):
    """What is left of a connection refused in the clear before TLS: nothing to send, nothing more to read."""

    def __init__(self, sock):
        super().__init__(sock)
        self.eof = "refused in the clear before TLS"

    def send(self, data):
        pass

    def recv(self, timeout):
        return b""

    def half_close(self):
        pass


class _TlsStream:
    """TLS through an SSLObject over two MemoryBIOs: we move the bytes between the socket and OpenSSL ourselves."""

    def __init__(self, sock, tls: Tls, host, port):
        self.sock, self.tls, self.server, self.eof = sock, tls, f"{host}:{port}", None
        self.expected = tls.pin or _known(self.server)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        # SNI: the host name dialled (Python sends none for an IP address, as the document wants)
        self.obj = tls.context(verify_ca=self.expected is None).wrap_bio(
            self.incoming, self.outgoing, server_side=False, server_hostname=host)
        self.tls_info = None

    def _flush(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def _recv_raw(self, deadline, what):
        left = deadline - time.monotonic()
        r, _, _ = select.select([self.sock], [], [], max(0.0, left))
        if not r:
            raise TimeoutError(f"{what}: nothing from {self.server} in time")
        return self.sock.recv(1 << 20)

    def handshake(self, deadline, max_frame):
        """Run the TLS handshake. Returns None, or the Refused frame the server sent in the clear instead."""
        first = True
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as e:
                try:
                    self._flush()                    # our alert, if OpenSSL made one
                except OSError:
                    pass
                raise TlsError(f"TLS handshake with {self.server} failed: {e.reason or e}") from e
            self._flush()                            # the ClientHello (then our Finished)
            try:
                data = self._recv_raw(deadline, "TLS handshake")
            except ConnectionResetError as e:
                raise TlsError(f"TLS handshake with {self.server}: connection reset") from e
            if not data:
                raise TlsError(f"TLS handshake with {self.server}: the server closed the connection"
                               + (" without sending anything" if first else ""))
            if first:
                first = False
                # 0x16: a TLS handshake record. 0x15: a TLS alert record (the server refuses our ClientHello:
                # TLS version, ALPN), which OpenSSL reports. Anything else: a frame in the clear.
                if data[0] not in (0x15, 0x16):
                    return self._clear_refusal(bytearray(data), deadline, max_frame)
            self.incoming.write(data)
        self._flush()
        self._check_session()
        return None

    def _clear_refusal(self, buf, deadline, max_frame):
        """"Read one frame in the clear. It is a Refused: show its reason, close." """
        try:
            while True:
                frames = split_frames(buf, max_frame)
                if frames:
                    break
                more = self._recv_raw(deadline, "a frame sent in the clear")
                if not more:
                    raise TlsError(f"{self.server} answered our ClientHello with {len(buf)} bytes in the clear "
                                   f"that are not a whole frame ({bytes(buf[:16]).hex()}...)")
                buf += more
        except ProtocolError as e:
            raise TlsError(f"{self.server} answered our ClientHello with bytes that are neither TLS nor a frame "
                           f"({bytes(buf[:16]).hex()}...): {e}") from e
        if frames[0].kind != "Refused":
            raise TlsError(f"{self.server} sent a {frames[0].kind} in the clear: only a Refused may come before TLS")
        return frames[0]

    def _check_session(self):
        version = self.obj.version()
        if self.tls.min_version >= ssl.TLSVersion.TLSv1_3 and version != "TLSv1.3":
            raise TlsError(f"{self.server} negotiated {version}, not TLS 1.3")
        alpn = self.obj.selected_alpn_protocol()
        if self.tls.alpn and ALPN in self.tls.alpn and alpn != ALPN:
            raise TlsError(f"{self.server} selected ALPN {alpn!r}, not {ALPN!r}: it does not speak this protocol")
        der = self.obj.getpeercert(binary_form=True)
        if not der:
            raise TlsError(f"{self.server} sent no certificate")
        fp = fingerprint_of_certificate(der)
        if self.expected is not None:
            if fp != self.expected:
                raise ServerKeyMismatch(self.server, self.expected, fp)
            if self.tls.remember:
                _remember(self.server, fp)
        self.tls_info = SimpleNamespace(version=version, alpn=alpn, cipher=self.obj.cipher()[0], fingerprint=fp,
                                        pinned=self.expected is not None, certificate=der)

    def send(self, data):
        view = memoryview(data)
        while view:
            n = self.obj.write(view)
            view = view[n:]
            self._flush()

    def recv(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                data = self.obj.read(1 << 20)
                self._flush()                         # anything TLS wants to answer (a KeyUpdate)
                if data:
                    return data
                self.eof = "close_notify"             # read() gives b"" for a close_notify before ours...
                return b""
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:            # ...and raises this for one after ours
                self.eof = "close_notify"
                return b""
            except ssl.SSLEOFError:
                self.eof = "FIN without close_notify: connection lost"
                return b""
            except ssl.SSLError as e:
                raise TlsError(f"TLS error from {self.server}: {e.reason or e}") from e
            if self.incoming.eof:
                self.eof = "FIN without close_notify: connection lost"
                return b""
            r, _, _ = select.select([self.sock], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                return None
            raw = self.sock.recv(1 << 20)
            if raw:
                self.incoming.write(raw)
            else:
                self.incoming.write_eof()             # OpenSSL tells a close_notify from a cut connection

    def half_close(self):
        """close_notify, then FIN."""
        try:
            self.obj.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
            pass                                      # our close_notify is out; the peer's comes later
        except ssl.SSLError:
            pass
        self._flush()
        self.sock.shutdown(socket.SHUT_WR)


# ---------------------------------------------------------------------------------------------------------- client

DEFAULT_TLS = Tls()     # what Client.open/connect use unless told otherwise; None: plaintext (`--insecure`)
_DEFAULT = object()


class Client:
    """One connection. Frames that a wait did not ask for are kept (in order) for the next wait.
    `sock` is the TCP socket; bytes go through `stream` (TLS or plain). `tls_info` describes the TLS session (None
    without TLS); `refused_in_clear` is True when the server refused the connection in the clear before TLS."""

    def __init__(self, sock: socket.socket, max_frame=DEFAULT_MAX_FRAME, stream=None):
        self.sock, self.max_frame = sock, max_frame
        self.stream = stream or _PlainStream(sock)
        self.tls_info = self.stream.tls_info
        self.refused_in_clear = False
        self.buf, self.backlog = bytearray(), []
        self.welcome = None
        self.peer_max_frame = DEFAULT_MAX_FRAME
        self.last_sent = time.monotonic()
        self.closed = None            # the reason, once the peer closed
        self.keep_pings = False
        self.ping_after = PING_AFTER  # None: never send our own Pings (tests of the server's idle timeout)
        self.say_id = 0               # the id of our last Say (ours count up from 1)

    # --- connection
    @classmethod
    def open(cls, host, port, max_frame=DEFAULT_MAX_FRAME, timeout=10, tls=_DEFAULT):
        """Connect and, unless tls is None, complete the TLS handshake (raises TlsError, ServerKeyMismatch). A
        refusal the server sends in the clear instead of TLS is returned as a client whose only frame is that
        Refused and which is closed, like a connection refused after its Hello."""
        tls = DEFAULT_TLS if tls is _DEFAULT else tls
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls is None:
            return cls(sock, max_frame)
        stream = _TlsStream(sock, tls, host, port)
        try:
            refusal = stream.handshake(time.monotonic() + timeout, max_frame)
        except BaseException:
            sock.close()
            raise
        if refusal is None:
            return cls(sock, max_frame, stream)
        sock.close()                                  # "show its reason, close"
        c = cls(sock, max_frame, _RefusedStream(sock))
        c.refused_in_clear, c.backlog = True, [refusal]
        c.closed = f"refused in the clear before TLS: {refusal.code} {refusal.reason}"
        return c

    @classmethod
    def connect(cls, host, port, name, token="", resume_key=b"", max_frame=DEFAULT_MAX_FRAME, timeout=10,
                tls=_DEFAULT):
        """Open, say Hello, return the client once Welcome arrives; raises Refused (also for a refusal in the clear
        before TLS: then `e.refused_in_clear` is True), TlsError, ServerKeyMismatch."""
        c = cls.open(host, port, max_frame, timeout, tls)
        c.hello(name, token, resume_key)
        f = c.expect({"Welcome", "Refused"}, timeout)
        if f.kind == "Refused":
            c.close()
            e = Refused(f)
            e.refused_in_clear = c.refused_in_clear
            raise e
        return c

    def hello(self, name, token="", resume_key=b"", version=VERSION):
        self.send("Hello", version=version, max_frame=self.max_frame, name=name, token=token, resume_key=resume_key)

    @property
    def name(self):
        return self.welcome.your_name

    @property
    def server_name(self):
        return self.welcome.server_name

    RATES = ("chat_rate", "chat_burst", "who_rate", "who_burst", "offer_rate", "offer_burst", "room_rate",
             "room_burst", "history_rate", "history_burst")

    @property
    def rates(self):
        """The rates the Welcome announced: chat_rate, chat_burst, who_rate, who_burst, offer_rate, offer_burst,
        room_rate, room_burst, history_rate, history_burst."""
        return SimpleNamespace(**{k: getattr(self.welcome, k) for k in self.RATES})

    def send_raw(self, data: bytes):
        """Bytes as they are, inside TLS when there is TLS."""
        self.stream.send(data)
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
        try:
            data = self.stream.recv(max(0.0, min(timeout, 1.0)))
        except (ConnectionResetError, socket.timeout, OSError) as e:   # TlsError is an OSError
            data, err = b"", e
        else:
            err = None
        if data is None:
            return []
        if not data:
            self.closed = f"connection closed ({err or self.stream.eof or 'FIN'})"
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

    def half_close(self):
        """End our direction: TLS close_notify (with TLS), then FIN."""
        self.stream.half_close()

    def goodbye(self, code=NORMAL, reason="bye", timeout=5.0):
        """Goodbye, close_notify, half-close, read until the peer's FIN."""
        try:
            self.send("Goodbye", code=code, reason=reason)
            self.half_close()
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
    def say(self, text, to="", id=None):
        """Send a Say; returns its id (the next of our counter unless given: the server does not check ids)."""
        if id is None:
            self.say_id = self.say_id % 0xFFFFFFFF + 1
            id = self.say_id
        self.send("Say", id=id, to=to, text=text)
        return id

    def say_answer(self, id, timeout=10.0) -> Frame:
        """The SayAck or SayRefused of the line `id` (PROTOCOL.md: every Say is answered, in order)."""
        return self.expect(lambda f: f.kind in ("SayAck", "SayRefused") and f.id == id, timeout)

    def say_and_wait(self, text, to="", timeout=10.0) -> Frame:
        """Say, then return its SayAck or SayRefused."""
        return self.say_answer(self.say(text, to), timeout)

    def who(self, timeout=10.0):
        self.send("WhoRequest")
        return self.expect("WhoReply", timeout).names

    # --- rooms and history (version 4)
    def _queued_runs(self, target):
        """The History/HistoryEnd frames for target already waiting in the backlog (runs not asked for here)."""
        t = target.casefold()
        return {id(f) for f in self.backlog if f.kind == "History" and f.to.casefold() == t
                or f.kind == "HistoryEnd" and f.target.casefold() == t}

    def history_run(self, target, timeout=10.0, _skip=frozenset()):
        """The History frames of one run for `target` (a room, "" for the server-wide room, our own name for the
        direct messages kept for us) up to its HistoryEnd: returns (lines, end). "Lines come oldest first, and each
        run of them ends with one HistoryEnd whose target is their to"."""
        lines, t = [], target.casefold()
        while True:
            f = self.expect(lambda f: id(f) not in _skip and (f.kind == "History" and f.to.casefold() == t
                            or f.kind == "HistoryEnd" and f.target.casefold() == t), timeout)
            if f.kind == "HistoryEnd":
                return lines, f
            lines.append(f)

    def join_room(self, room, timeout=10.0, spelled=None):
        """JoinRoom; returns (answer, lines, end): the RoomJoined with its History run and HistoryEnd, or the
        RoomRefused with [] and None. The RoomJoined names the room "as the room spells it": `spelled`, when given,
        is that spelling (a look-alike of `room`); by default the answer is the first RoomJoined/RoomRefused whose
        room equals `room` ignoring case."""
        skip = self._queued_runs(spelled or room) | self._queued_runs(room)
        self.send("JoinRoom", room=room)
        want = {room.casefold(), (spelled or room).casefold()}
        f = self.expect(lambda f: f.kind in ("RoomJoined", "RoomRefused") and f.room.casefold() in want
                        and not (f.kind == "RoomJoined" and f.rejoined), timeout)
        if f.kind == "RoomRefused":
            return f, [], None
        lines, end = self.history_run(f.room, timeout, skip)
        return f, lines, end

    def leave_room(self, room, timeout=10.0):
        """LeaveRoom; returns the RoomLeft or RoomRefused."""
        self.send("LeaveRoom", room=room)
        return self.expect(lambda f: f.kind in ("RoomLeft", "RoomRefused") and f.room.casefold() == room.casefold(),
                           timeout)

    def rooms(self, timeout=10.0):
        """RoomsRequest; returns the RoomList's [RoomInfo(room, members, topic)]."""
        self.send("RoomsRequest")
        return self.expect("RoomList", timeout).rooms

    def members(self, room, timeout=10.0, spelled=None):
        """MembersRequest; returns the MemberList or the RoomRefused (`spelled`: as in join_room)."""
        self.send("MembersRequest", room=room)
        want = {room.casefold(), (spelled or room).casefold()}
        return self.expect(lambda f: f.kind in ("MemberList", "RoomRefused") and f.room.casefold() in want, timeout)

    def set_topic(self, room, topic, timeout=10.0):
        """SetTopic; returns our RoomTopic (every member online gets one, the setter too) or the RoomRefused."""
        self.send("SetTopic", room=room, topic=topic)
        return self.expect(lambda f: f.kind in ("RoomTopic", "RoomRefused") and f.room.casefold() == room.casefold(),
                           timeout)

    def history(self, target, before=0, count=50, timeout=10.0):
        """HistoryRequest; returns (lines, HistoryEnd), or (RoomRefused, None). Runs for the same target already
        waiting in the backlog (the one sent after Welcome, say) are left there, not taken for the answer."""
        skip = self._queued_runs(target)
        self.send("HistoryRequest", target=target, before=before, count=count)
        t = target.casefold()
        f = self.expect(lambda f: id(f) not in skip and (f.kind == "RoomRefused" and f.room.casefold() == t
                        or f.kind == "History" and f.to.casefold() == t
                        or f.kind == "HistoryEnd" and f.target.casefold() == t), timeout)
        if f.kind == "RoomRefused":
            return f, None
        if f.kind == "HistoryEnd":
            return [], f
        lines, end = self.history_run(target, timeout, skip)
        return [f] + lines, end

    def unregister(self, timeout=10.0):
        """Unregister; returns the NameStatus."""
        self.send("Unregister")
        return self.expect("NameStatus", timeout)

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
                # PROTOCOL.md: at least every min(window' / 4, 131072) bytes (since version 2), and at the last byte.
                if written - acked >= max(1, min(win // 4, 131072)) or written == offer.size:
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
