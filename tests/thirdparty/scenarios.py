#!/usr/bin/env python3
"""Scenarios against a running AkkaTcpTransfer server (token empty, default settings), from docs/PROTOCOL.md alone.

    python3 scenarios.py HOST PORT FINGERPRINT [--only=NAME,...]     # a TLS server, its key pinned
    python3 scenarios.py HOST PORT [--insecure] [--only=NAME,...]    # a server started with --insecure

Prints one JSON object per scenario, then {"summary": ...}; exit code 0 only if every scenario passed. Scenarios
marked tls_only or plain_only run only against that kind of server (the others are listed as "not_applicable").
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attp  # noqa: E402
from attp import Client, Closed, Refused, TransferFailed, Tls, TlsError, encode  # noqa: E402

HOST, PORT = "127.0.0.1", 0
FINGERPRINT = None            # the server's key, from the command line; None: plaintext (--insecure)
TLS = None                    # attp.Tls(pin=FINGERPRINT), or None
RUN = random.randint(1000, 9999)
_seq = 0
_open: list[Client] = []
TMP = tempfile.mkdtemp(prefix="attp-")


def uname(prefix="t"):
    global _seq
    _seq += 1
    return f"{prefix}{RUN}x{_seq}"


def connect(name=None, **kw) -> Client:
    c = Client.connect(HOST, PORT, uname() if name is None else name, tls=kw.pop("tls", TLS), **kw)
    _open.append(c)
    return c


def raw_open(max_frame=attp.DEFAULT_MAX_FRAME, tls="default") -> Client:
    c = Client.open(HOST, PORT, max_frame, tls=TLS if tls == "default" else tls)
    _open.append(c)
    return c


def refused(name, **kw):
    """Expect a Refused for this Hello; returns the Refused frame."""
    try:
        c = connect(name, **kw)
    except Refused as e:
        return e.frame
    raise AssertionError(f"Hello as {name!r} {kw} was welcomed, expected Refused")


def closing_frame(c: Client, timeout=8.0):
    """Read until the server closes; return its last Goodbye/Refused (or None)."""
    frames = c.wait_closed(timeout)
    ends = [f for f in frames if f.kind in ("Goodbye", "Refused")]
    return ends[-1] if ends else None


def tls_only(fn):
    fn.mode = "tls"
    return fn


def plain_only(fn):
    fn.mode = "plain"
    return fn


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def no_frame(c: Client, kinds, seconds=0.7):
    try:
        f = c.expect(kinds, seconds)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected {f}")


def in_thread(fn, *args, **kw):
    box = {}

    def run():
        try:
            box["result"] = fn(*args, **kw)
        except BaseException as e:  # reported by the scenario
            box["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    box["thread"] = t
    return box


def joined(box, timeout=60):
    box["thread"].join(timeout)
    if box["thread"].is_alive():
        raise AssertionError("thread did not finish")
    if "error" in box:
        raise box["error"]
    return box["result"]


def offer_and_start(c: Client, data: bytes, file: str, to="", tid=None, fingerprint=1, window=None):
    """Offer to the server and Start; returns (id, accept)."""
    tid = tid or attp.new_id()
    c.send("Offer", id=tid, to=to, file=file, size=len(data), fingerprint=fingerprint)
    acc = c.expect(lambda f: f.kind in ("Accept", "Reject") and f.id == tid)
    check(acc.kind == "Accept", f"offer not accepted: {acc}")
    c.send("Start", id=tid, offset=0, window=window or acc.window)
    return tid, acc


# A Say (id 1, to everyone) whose text is the single byte ff, and one whose text is a UTF-16 surrogate (ed a0 80)
SAY_INVALID_UTF8 = b"\x00\x00\x00\x0a\x10\x00\x00\x00\x01\x00\x00\x00\x01\xff"
SAY_SURROGATE_UTF8 = b"\x00\x00\x00\x0c\x10\x00\x00\x00\x01\x00\x00\x00\x03\xed\xa0\x80"


def with_trailing_byte(frame: bytes) -> bytes:
    """The frame with one more byte inside it (its length counts the byte): bytes after the last field."""
    return struct.pack(">I", len(frame) - 4 + 1) + frame[4:] + b"Z"


def say_answers(c: Client, ids, timeout=10.0):
    """The SayAck/SayRefused of each id, checking they come in the order the Says were sent (PROTOCOL.md: "Every
    Say is answered, in the order the Says came, by exactly one SayAck or SayRefused carrying its id")."""
    out = []
    for i in ids:
        f = c.expect({"SayAck", "SayRefused"}, timeout)
        check(f.id == i, f"answer {f} where the answer to Say {i} was due (answers so far: {[g.id for g in out]})")
        out.append(f)
    return out


def say_ok(c: Client, text, to="", timeout=10.0):
    """Say and check that its SayAck (with its id) comes; returns the SayAck."""
    i = c.say(text, to)
    (f,) = say_answers(c, [i], timeout)
    check(f.kind == "SayAck", f"Say {i} to {to!r} answered {f}")
    return f


def say_refused(c: Client, text, to, code, timeout=10.0):
    """Say and check that it is answered with SayRefused(its id, code); returns the SayRefused."""
    i = c.say(text, to)
    (f,) = say_answers(c, [i], timeout)
    check(f.kind == "SayRefused" and f.code == code, f"Say {i} to {to[:40]!r}: {f}, expected SayRefused {code}")
    return f


def expect_fail(c: Client, tid, timeout=10):
    return c.expect(lambda f: f.kind in ("Fail", "Verified", "Cancel") and getattr(f, "id", None) == tid, timeout)


# ------------------------------------------------------------------------------------------------------ scenarios

def s_doc_hex_table():
    """Every row of the document's hex table decodes to the frame named and re-encodes to the same bytes."""
    doc = open(os.path.join(os.path.dirname(__file__), "../../docs/PROTOCOL.md"), encoding="utf-8").read()
    rows = re.findall(r"^\| 0x([0-9a-f]{2}) \| (\w+).*?\| `([0-9a-f ]+)` \|$", doc.split("## Every frame in hex")[1],
                      re.M)
    check(len(rows) == len(attp.FRAMES), f"{len(rows)} rows for {len(attp.FRAMES)} frame types")
    for t, name, hx in rows:
        raw = bytes.fromhex(hx.replace(" ", ""))
        (f,) = attp.split_frames(bytearray(raw), 1 << 20)
        check(f.kind == name and int(t, 16) == raw[4], f"row {name} decodes as {f.kind}")
        check(encode(f.kind, **{k: v for k, v in vars(f).items() if k != "kind"}) == raw, f"{name} re-encodes")
    # our own decoder is strict
    for bad in (SAY_INVALID_UTF8,                                            # invalid UTF-8 in Say.text
                b"\x00\x00\x00\x01\x7f",                                # unknown type
                with_trailing_byte(encode("Say", id=1, to="", text="a")),   # a byte after the last field
                b"\x00\x00\x00\x0c\x25\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00",  # short Ack
                b"\x00\x00\x00\x0c" + encode("SayAck", id=1, at=5)[4:-2],  # SayAck with a 7-byte `at`
                encode("SayAck", id=1, at=5)[:-1] + b"\x02",            # a flag that is neither 0 nor 1
                encode("RoomJoined", room="#a", members=1)[:-1] + b"\xff",
                encode("MemberList", room="#a", members=[("b", True)])[:-1] + b"\x02",
                with_trailing_byte(encode("HistoryEnd", target="", oldest=1, more=True)),
                struct.pack(">I", 14) + encode("RoomList", rooms=[("#a", 1, "")])[4:-1],  # RoomList cut short
                b"\x00\x00\x00\x0d\x25\x00\x00\x00\x00" + bytes(8)):   # transfer id 0
        try:
            attp.split_frames(bytearray(bad), 1 << 20)
            raise AssertionError(f"our decoder accepted {bad.hex()}")
        except attp.ProtocolError:
            pass
    return f"{len(rows)} rows round-trip"


def s_handshake_welcome():
    name = uname("hé")
    c = connect(name)
    w = c.welcome
    check(w.version == 5 == attp.VERSION, f"version {w.version}")
    check(w.max_frame >= 17408, f"max_frame {w.max_frame}")
    check(w.your_name == name, f"your_name {w.your_name!r} != {name!r}")
    check(len(w.resume_key) == 32, f"resume_key of {len(w.resume_key)} bytes")
    check(w.online and w.online[0] == w.server_name, f"online {w.online} does not start with {w.server_name!r}")
    check(name in w.online, f"{name} not in online {w.online}")
    rates = vars(c.rates)
    check(list(rates) == ["chat_rate", "chat_burst", "who_rate", "who_burst", "offer_rate", "offer_burst",
                          "room_rate", "room_burst", "history_rate", "history_burst"], f"{rates}")
    check(all(isinstance(v, int) and v >= 1 for v in rates.values()), f"a rate below 1: {rates}")
    # "Ours: 20 and 200, 1 and 5, 1,000 and 2,000, 5 and 20, 2 and 5" (these scenarios run against a server with
    # default settings)
    check(list(rates.values()) == [20, 200, 1, 5, 1000, 2000, 5, 20, 2, 5], f"not the documented defaults: {rates}")
    # "A name is registered to the first client (resume_key) that connects with it"
    check(w.registered is True, f"a new name, first used by this key: registered {w.registered}")
    # "On every connection the server sends, after Welcome, the server-wide room's recent lines (History with to
    # empty and a HistoryEnd)"
    lines, end = c.history_run("")
    check(end.target == "" and len(lines) <= 50, f"{len(lines)} lines, {end}")
    return (f"Welcome version 5, max_frame {w.max_frame}, server {w.server_name!r}, key 32 bytes, registered, rates "
            f"{'/'.join(map(str, rates.values()))}, online {len(w.online)}; then the server-wide room's "
            f"{len(lines)} recent lines and {end}")


def s_chat_broadcast():
    a = connect()
    b = connect()
    j = a.expect("PeerJoined")
    check(j.name == b.name, f"PeerJoined {j.name}")
    text = "héllo 世界 🎉 \u0000 e\u0301 \U0001F9D1\u200D\U0001F4BB"
    t0 = int(time.time() * 1000)
    ack = say_ok(a, text)
    m = b.expect("Chat")
    t1 = int(time.time() * 1000)
    check(m.from_ == a.name and m.to == "" and m.text == text, f"got {m}")
    check(t0 - 5000 <= m.at <= t1 + 5000, f"at {m.at} not near local clock {t0}..{t1}")
    check(ack.at == m.at, f"SayAck at {ack.at}, the recipient's Chat at {m.at} ('the time they see')")
    no_frame(a, "Chat")
    no_frame(a, {"SayAck", "SayRefused", "Error"}, 0.2)
    return (f"SayAck {ack.id} at {ack.at}; Chat from {m.from_!r} to '' at the same time (local {t0}), "
            f"{len(text.encode())} bytes intact, no echo to sender")


def s_say_ids_are_the_clients():
    """'the server does not check that ids are unique or increasing: they are the client's'; answered in order."""
    a, b = connect(), connect()
    a.expect("PeerJoined")
    ids = [7, 7, 3, 0xFFFFFFFF, 1]
    for n, i in enumerate(ids):
        a.say(f"line {n}", to=b.name, id=i)
    acks = say_answers(a, ids)
    check(all(f.kind == "SayAck" for f in acks), f"{acks}")
    got = [b.expect("Chat").text for _ in ids]
    check(got == [f"line {n}" for n in range(len(ids))], f"recipient got {got}")
    return f"ids {ids} each answered by a SayAck, in order; the recipient got the lines in order"


def s_direct_message():
    a, b = connect(), connect()
    c = connect()
    ack = say_ok(a, "только тебе", to=b.name)
    m = b.expect("Chat")
    check(m.from_ == a.name and m.to == b.name and m.text == "только тебе", f"got {m}")
    check(ack.at == m.at, f"SayAck at {ack.at}, Chat at {m.at}")
    no_frame(c, "Chat")
    no_frame(a, "Chat", 0.2)
    say_ok(a, "case variant", to=b.name.upper())
    m2 = b.expect("Chat")
    check(m2.text == "case variant" and m2.to == b.name, f"{m2}: 'a Say to BOB reaches bob as to: \"bob\"'")
    # "A Say to one's own name comes back as a Chat to oneself."
    ack3 = say_ok(a, "note to self", to=a.name)
    me = a.expect("Chat", 5)
    check(me.from_ == a.name and me.to == a.name and me.text == "note to self" and me.at == ack3.at,
          f"a Say to oneself came back as {me} (SayAck at {ack3.at})")
    no_frame(b, "Chat", 0.2)
    return (f"direct Chat to {m.to!r} with its SayAck; third client saw nothing; to={b.name.upper()!r} delivered "
            f"with to={m2.to!r}; a Say to oneself came back as Chat(from={me.from_!r}, to={me.to!r})")


def s_who_lists_both():
    a, b = connect(), connect()
    names = a.who()
    check(names[0] == a.server_name, f"server not first: {names}")
    check(a.name in names and b.name in names, f"{names}")
    return f"WhoReply {len(names)} names, server first, both present"


def s_say_unknown_refused12():
    """A Say to a name nobody online has (or that is not a valid name): SayRefused 12 with its id, no Error."""
    a = connect()
    out = []
    for to in (uname("nobody"), "a b", "x" * 40):
        f = say_refused(a, "hi", to, 12)
        out.append(f.reason)
    say_ok(a, "still here")                  # the connection carries on
    no_frame(a, "Error", 0.3)
    return "; ".join(out)


def s_say_empty_refused14():
    a = connect()
    e = say_refused(a, "", "", 14)
    say_refused(a, "", a.server_name, 14)
    no_frame(a, "Error", 0.3)
    return f"SayRefused {e.id} 14: {e.reason}"


def s_say_too_long_refused13():
    a, b = connect(), connect()
    say_ok(a, "é" * 8192, to=b.name)         # 16,384 bytes: at the limit
    m = b.expect("Chat")
    check(len(m.text.encode()) == 16384, "16 KiB text not delivered whole")
    e = say_refused(a, "x" * 16385, b.name, 13)
    no_frame(b, "Chat", 0.3)                 # "SayRefused means it reached nobody"
    no_frame(a, "Error", 0.2)
    return f"16384 bytes: SayAck and delivered; 16385 -> SayRefused {e.id} 13 ({e.reason}), not delivered"


def s_long_refusal_reason_cut():
    a = connect()
    e = say_refused(a, "hi", "z" * 5000, 12)
    n = len(e.reason.encode())
    check(n <= 1024 and e.reason.endswith("…"), f"SayRefused {e.code}, {n} bytes, ends {e.reason[-3:]!r}")
    return f"reason cut to {n} bytes ending in …"


def s_token_when_none_required():
    """'a token sent to a server that requires none is ignored': welcomed, and served like anyone."""
    name = uname("tok")
    try:
        c = connect(name, token="not-needed")
    except Refused as e:
        raise AssertionError(f"a token sent to a server that requires none was not ignored: refused {e.code} "
                             f"({e.frame.reason!r})")
    check(c.welcome.your_name == name, f"{c.welcome}")
    check(name in c.who(), "not listed by WhoRequest")
    say_ok(c, "token ignored")
    return "welcomed (the token is ignored); WhoReply and SayAck as usual"


def s_ping_before_hello_refused7():
    c = raw_open()
    c.send_raw(encode("Ping"))
    f = closing_frame(c)
    check(f and f.kind == "Refused" and f.code == 7, f"got {f}")
    return f.reason


def s_hello_maxframe_4096_refused7():
    f = refused(uname(), max_frame=4096)
    check(f.code == 7, f"code {f.code}")
    check("17408" in f.reason or "17,408" in f.reason, f"reason does not name the minimum: {f.reason!r}")
    g = refused(uname(), max_frame=17407)
    check(g.code == 7, f"17407: {g}")
    connect(max_frame=17408)
    return f"{f.reason!r}; 17407 refused, 17408 welcomed"


def s_name_taken_refused3():
    base = "alice" + "".join(random.choice("aceghijlopsvxy") for _ in range(8))     # unique, letters only
    connect(base)
    variants = [base, base.capitalize(), base.upper(), "а" + base[1:],  # Cyrillic а
                "".join(chr(ord(ch) + 0xFEE0) for ch in base), "SERVER", "Server"]   # fullwidth; the server's name
    for v in variants:
        f = refused(v)
        check(f.code == 3, f"{v!r}: {f}")
    return f"refused with 3: {variants}"


def s_lookalike_fullwidth_any_letters():
    """'Names that look alike are the same name': a fullwidth copy of any ASCII name looks alike."""
    base = "bob" + "".join(random.choice("bdfkmnqrtuwz") for _ in range(8))
    connect(base)
    welcomed = []
    for v in ("".join(chr(ord(ch) + 0xFEE0) for ch in base), base[:-1] + chr(ord(base[-1]) + 0xFEE0),
              uname("d")[:-1] + "１"):
        if v.endswith("１"):
            connect(v[:-1] + "1")
        try:
            connect(v)
            welcomed.append(v)
        except Refused as e:
            check(e.code == 3, f"{v!r}: {e}")
    check(not welcomed, f"welcomed while a look-alike is online: {welcomed}")
    return "fullwidth variants refused"


def s_invalid_names_refused4():
    out = []
    for v in ("a b", "x" * 33, "a/b", "a'b", 'a"b', "a\\b", "a`b", "a\x07b", "a\u200bb", "a\ue000b", "",
              "#" + uname("room"), "#"):            # version 4: "not starting with # (that is a room)"
        f = refused(v)
        out.append(f"{v!r}:{f.code}")
        check(f.code == 4, f"{v!r} refused with {f.code} ({f.reason}), expected 4")
    connect(uname("Zoë_日本"))
    return ", ".join(out)


def s_other_versions_refused1():
    """'A server refuses any other version with Refused code 1, naming the version it speaks' (5)."""
    out = []
    for v in (4, 6):
        c = raw_open()
        c.hello(uname(), version=v)
        f = closing_frame(c)
        check(f and f.kind == "Refused" and f.code == 1 and "5" in f.reason, f"version {v}: {f}")
        out.append(f"{v}: {f.reason!r}")
    return "; ".join(out)


def s_bad_magic_refused7():
    c = raw_open()
    c.send_raw(encode("Hello", magic=b"HTTP", version=1, max_frame=73728, name=uname()))
    f = closing_frame(c)
    check(f and f.kind == "Refused" and f.code == 7, f"{f}")
    return f.reason


def s_resume_key_bounds_refused7():
    out = []
    for n in (1, 15, 65, 255):
        f = refused(uname(), resume_key=os.urandom(n))
        check(f.code == 7, f"{n}-byte key: {f}")
        out.append(n)
    for n in (16, 64):
        key = os.urandom(n)
        c = connect(resume_key=key)
        check(c.welcome.resume_key == key, f"{n}-byte key not echoed")
    return f"keys of {out} bytes refused with 7; 16 and 64 accepted and echoed"


def s_resume_key_reuse():
    name = uname("rk")
    a = connect(name)
    key = a.welcome.resume_key
    check(len(key) == 32, f"{len(key)} bytes")
    # same name, other key, while online: taken
    f = refused(name, resume_key=os.urandom(32))
    check(f.code == 3, f"other key: {f}")
    # same name and key while online: takes over, the old one gets Goodbye 11
    a2 = connect(name, resume_key=key)
    check(a2.welcome.resume_key == key and a2.welcome.your_name == name, f"{a2.welcome}")
    g = closing_frame(a)
    check(g and g.kind == "Goodbye" and g.code == 11, f"old connection got {g}")
    a2.goodbye()
    # after leaving: the key again works and is echoed
    a3 = connect(name, resume_key=key)
    check(a3.welcome.resume_key == key, "not echoed")
    return f"32-byte key; other key -> 3; same key -> Welcome + old Goodbye 11 ({g.reason!r}); reconnect echoes key"


def s_violations_after_welcome_goodbye7():
    cases = {
        "unknown type": b"\x00\x00\x00\x01\x7f",
        "client Chat": encode("Chat", from_="x", to="", at=1, text="hi"),
        "client PeerJoined": encode("PeerJoined", name="x"),
        "client SayAck": encode("SayAck", id=1, at=1),
        "client SayRefused": encode("SayRefused", id=1, code=15, reason="x"),
        # version 4: frames whose direction is S→C
        "client RoomJoined": encode("RoomJoined", room="#x", topic="", members=1, rejoined=False),
        "client History": encode("History", from_="x", to="", at=1, seq=1, text="hi"),
        "client HistoryEnd": encode("HistoryEnd", target="", oldest=1, more=False),
        "client NameStatus": encode("NameStatus", name="x", registered=False, reason=""),
        "client RoomRefused": encode("RoomRefused", room="#x", code=18, reason="x"),
        # version 5: a client may not send Held or Delivery
        "client Held": encode("Held", id=1, file_id="f", recipients=1),
        "client Delivery": encode("Delivery", file_id="f", file="a", to="b", state=4, bytes=0, size=0, reason=""),
        "invalid UTF-8 in a room": struct.pack(">I", 4) + b"\x30\x00\x01\xff",          # JoinRoom
        "HistoryRequest, count cut short": struct.pack(">I", 12) + b"\x50\x00\x00" + bytes(8) + b"\x00",
        "invalid UTF-8": SAY_INVALID_UTF8,
        "surrogate UTF-8": SAY_SURROGATE_UTF8,
        "trailing byte": with_trailing_byte(encode("Say", id=1, to="", text="x")),
        "short payload": struct.pack(">I", 8) + b"\x10\x00\x00\x00\x01\x00\x00\x00",   # Say: id, to, no text
        "transfer id 0": encode("Ack", id=0, written=0),
        "negative written": struct.pack(">I", 13) + b"\x25" + struct.pack(">Iq", 5, -1),
        "length over limit": struct.pack(">I", 73729) + b"\x10",
        "length 0 (+ Ping after it)": b"\x00\x00\x00\x00" + encode("Ping"),
    }
    bad = []
    for label, data in cases.items():
        c = connect()
        c.send_raw(data)
        f = closing_frame(c)
        if not (f and f.kind == "Goodbye" and f.code == 7):
            bad.append(f"{label}: got {f}")
    check(not bad, "; ".join(bad))
    return f"{len(cases)} violations -> Goodbye 7 and close"


def s_ping_and_ignored_frames():
    """A Ping after Welcome, and transfer frames for ids nobody uses, are accepted and ignored."""
    c = connect()
    c.send("Ping")
    c.send("Ack", id=12345, written=5)
    c.send("Verified", id=777, sha256=bytes(32))
    c.send("Cancel", id=778, by="", reason="nothing")
    names = c.who()
    check(c.name in names, "who after ignored frames")
    return "connection still answers WhoRequest"


def s_goodbye_closes():
    a, b = connect(), connect()
    a.expect("PeerJoined")
    b.send("Goodbye", code=0, reason="leaving")
    b.half_close()                                # close_notify (with TLS), then FIN
    b.wait_closed(5)
    left = a.expect("PeerLeft")
    check(left.name == b.name, f"{left}")
    return f"server closed after Goodbye+FIN ({b.closed}); PeerLeft {left.name}"


def s_upload_1mib():
    c = connect()
    data = os.urandom(1 << 20)
    r = c.send_file(data, f"up-{RUN}-1m.bin", to="server")
    acc = r.accept
    check(acc.offset == 0 and acc.prefix_sha256 == b"", f"{acc}")
    check(acc.max_chunk + 13 <= c.welcome.max_frame, f"max_chunk {acc.max_chunk} does not fit max_frame")
    return f"Verified; Accept max_chunk {acc.max_chunk}, window {acc.window}"


def s_upload_0_and_1_byte():
    c = connect()
    out = []
    for n in (0, 1):
        r = c.send_file(os.urandom(n), f"up-{RUN}-{n}b.bin", to="")
        out.append(f"{n} bytes Verified sha {r.verified.sha256.hex()[:12]}")
    return "; ".join(out)


def s_relay_3mib_strict():
    a = connect()
    b = connect(max_frame=20000)
    data = os.urandom(3 * 1024 * 1024 + 4321)
    box = in_thread(b.receive_file, os.path.join(TMP, "relay"), max_chunk=20000 - 13)
    t = time.monotonic()
    r = a.send_file(data, f"relay-{RUN}.bin", to=b.name)
    got = joined(box)
    secs = time.monotonic() - t
    check(got.offer.from_ == a.name, f"Offer.from {got.offer.from_!r}")
    check(len(got.offer.sender_id) == 16, f"sender_id of {len(got.offer.sender_id)} bytes")
    check(got.largest_chunk <= 20000 - 13, f"chunk of {got.largest_chunk}")
    check(open(got.path, "rb").read() == data, "file differs")
    check(r.verified.sha256 == hashlib.sha256(data).digest(), "sender's Verified sha")
    return (f"{len(data)} bytes in {secs:.2f}s, largest chunk {got.largest_chunk}, Offer.to {got.offer.to!r}, "
            f"sender saw max_chunk {r.accept.max_chunk}")


def s_relay_server_lowers_max_chunk():
    """A receiver whose Accept.max_chunk does not fit its own max_frame: the server must not send bigger frames."""
    a, b = connect(), connect(max_frame=20000)
    data = os.urandom(300_000)
    box = in_thread(b.receive_file, os.path.join(TMP, "lower"), max_chunk=65536)
    r = a.send_file(data, f"lower-{RUN}.bin", to=b.name)
    got = joined(box)
    check(r.accept.max_chunk <= 20000 - 13, f"sender was told max_chunk {r.accept.max_chunk}")
    return f"server lowered Accept.max_chunk 65536 -> {r.accept.max_chunk}; largest chunk {got.largest_chunk}"


def s_sender_id_stable():
    """Offer.sender_id: 16 bytes, the same for the same resume key, different for another client."""
    name = uname("sid")
    a, b, c = connect(name), connect(), connect()
    key = a.welcome.resume_key
    ids = []
    for who in (a, c):
        box = in_thread(b.receive_file, os.path.join(TMP, "sid"))
        who.send_file(b"hello", f"sid-{RUN}-{attp.new_id()}.txt", to=b.name)
        ids.append(joined(box).offer.sender_id)
    a.goodbye()
    a2 = connect(name, resume_key=key)
    box = in_thread(b.receive_file, os.path.join(TMP, "sid"))
    a2.send_file(b"again", f"sid-{RUN}-{attp.new_id()}.txt", to=b.name)
    ids.append(joined(box).offer.sender_id)
    check(all(len(i) == 16 for i in ids), f"lengths {[len(i) for i in ids]}")
    check(ids[0] == ids[2] and ids[0] != ids[1], f"{[i.hex() for i in ids]}")
    return "16-byte sender_id, stable across reconnects with the same key, distinct between clients"


def s_duplicate_id_rejected():
    c = connect()
    data = os.urandom(1 << 20)
    tid = attp.new_id()
    sent_dup = []

    def dup(client, t, sent):
        if not sent_dup:
            client.send("Offer", id=t, to="server", file=f"dup-{RUN}.bin", size=10, fingerprint=1)
            sent_dup.append(sent)
    c.send_file(data, f"live-{RUN}.bin", to="server", tid=tid, on_chunk=dup)
    rej = [f for f in c.backlog if f.kind in ("Reject", "Accept") and f.id == tid]
    check(rej and rej[0].kind == "Reject", f"duplicate offer answered with {rej}")
    return f"live transfer Verified; duplicate Offer -> Reject ({rej[0].reason!r})"


def s_duplicate_id_other_direction_rejected():
    """An id used by a relayed transfer *to* b is in use on b's connection: b may not offer with it."""
    a, b = connect(), connect()
    tid2 = attp.new_id()
    box = in_thread(a.send_file, os.urandom(200_000), f"rel-{RUN}.bin", to=b.name, tid=tid2)
    offer = b.expect("Offer")
    b.send("Offer", id=tid2, to="server", file=f"dup2-{RUN}.bin", size=5, fingerprint=1)
    ans = b.expect(lambda f: f.kind in ("Accept", "Reject") and f.id == tid2)
    check(ans.kind == "Reject", f"b's Offer with the id of the live relayed transfer it receives was answered {ans}")
    b.receive_file(os.path.join(TMP, "dup"), offer=offer)
    joined(box)
    return f"Reject ({ans.reason!r}); the live relayed transfer still Verified"


def s_unsafe_names_rejected():
    c = connect()
    names = ["../x", "a\u202eb.txt", "/etc/passwd", "a\\b", "c:x", "C:/x", "a//b", "./a", "a/./b", "a.", "a ",
             "CON", "nul.txt", "a\x01b", "a\u200bb", "a\ufeffb", "", "x" * 256, ".akka-tcp-transfer/p.part"]
    bad = []
    for n in names:
        try:
            c.send_file(b"abc", n, to="server")
            bad.append(n)
        except TransferFailed as e:
            check(e.frame.kind == "Reject", f"{n!r}: {e.frame}")
    ok_names = [f"album-{RUN}/sub/b.bin", f"zwj-{RUN}-\u200d.txt"]
    for n in ok_names:
        c.send_file(b"abc", n, to="server")
    check(not bad, f"accepted: {bad!r}")
    return f"{len(names)} unsafe names rejected; {ok_names!r} accepted"


def s_offer_unknown_peer_rejected():
    c = connect()
    try:
        c.send_file(b"abc", "x.bin", to=uname("ghost"))
    except TransferFailed as e:
        check(e.frame.kind == "Reject", f"{e.frame}")
        return e.frame.reason
    raise AssertionError("delivered to nobody")


def s_window_violation_fail():
    c = connect()
    data = os.urandom(400_000)
    tid, acc = offer_and_start(c, data, f"win-{RUN}.bin", window=65536)
    for off in range(0, 200_000, 10_000):         # 200,000 bytes with a window of 65,536 and no Ack awaited
        c.send("Chunk", id=tid, offset=off, data=data[off:off + 10_000])
    f = expect_fail(c, tid)
    check(f.kind == "Fail", f"{f}")
    check(c.name in c.who(), "connection did not carry on")
    return f"Fail: {f.reason}"


def s_chunk_gap_fail():
    c = connect()
    data = os.urandom(1000)
    tid, _ = offer_and_start(c, data, f"gap-{RUN}.bin")
    c.send("Chunk", id=tid, offset=10, data=data[10:20])
    f = expect_fail(c, tid)
    check(f.kind == "Fail", f"{f}")
    check(c.name in c.who(), "connection did not carry on")
    return f"Fail: {f.reason}"


def s_chunk_over_max_chunk_fail():
    a, b = connect(), connect()
    data = os.urandom(5000)
    tid = attp.new_id()
    a.send("Offer", id=tid, to=b.name, file=f"big-{RUN}.bin", size=len(data), fingerprint=1)
    b.expect("Offer")
    b.send("Accept", id=tid, offset=0, prefix_sha256=b"", max_chunk=1000, window=65536)
    acc = a.expect("Accept")
    a.send("Start", id=tid, offset=0, window=acc.window)
    b.expect("Start")
    a.send("Chunk", id=tid, offset=0, data=data[:2000])
    fa = expect_fail(a, tid)
    got = b.expect(lambda f: f.kind in ("Chunk", "Fail", "Cancel") and f.id == tid)
    check(fa.kind == "Fail", f"sender got {fa}")
    check(got.kind != "Chunk", f"server relayed a {len(getattr(got, 'data', b''))}-byte chunk over max_chunk 1000")
    return f"sender Fail ({fa.reason!r}); receiver got {got.kind} ({getattr(got, 'reason', '')!r})"


def s_done_mismatch_fail():
    c = connect()
    out = []
    for label, size_delta, sha in (("wrong sha", 0, bytes(32)), ("wrong size", 1, None)):
        data = os.urandom(3000)
        tid, _ = offer_and_start(c, data, f"bad-{RUN}-{label[-3:]}.bin")
        c.send("Chunk", id=tid, offset=0, data=data)
        c.expect(lambda f: f.kind == "Ack" and f.id == tid and f.written == len(data))
        c.send("Done", id=tid, size=len(data) + size_delta, sha256=sha or hashlib.sha256(data).digest())
        f = expect_fail(c, tid)
        check(f.kind == "Fail", f"{label}: {f}")
        out.append(f"{label}: {f.reason}")
    return "; ".join(out)


def s_cancel_relayed():
    a, b = connect(), connect()
    data = os.urandom(2_000_000)
    tid = attp.new_id()
    a.send("Offer", id=tid, to=b.name, file=f"cx-{RUN}.bin", size=len(data), fingerprint=1)
    b.expect("Offer")
    b.send("Accept", id=tid, offset=0, prefix_sha256=b"", max_chunk=65536, window=131072)
    acc = a.expect("Accept")
    a.send("Start", id=tid, offset=0, window=acc.window)
    a.send("Chunk", id=tid, offset=0, data=data[:1000])
    a.send("Cancel", id=tid, by="someone-else", reason="changed my mind")
    f = b.expect(lambda f: f.kind in ("Cancel", "Fail") and f.id == tid)
    check(f.kind == "Cancel" and f.by == a.name and f.reason == "changed my mind", f"{f}")
    return f"receiver got Cancel by {f.by!r} (stamped)"


def s_resume_partial_upload():
    name = uname("res")
    a = connect(name)
    key = a.welcome.resume_key
    data = os.urandom(1 << 20)
    fp = attp.ticks_now()
    file = f"resume-{RUN}.bin"
    tid, acc = offer_and_start(a, data, file, fingerprint=fp)
    w = min(acc.window, len(data))                # the window may be larger than the file (8 MiB by default)
    for off in range(0, w // 2, 16384):
        a.send("Chunk", id=tid, offset=off, data=data[off:off + 16384])
    a.expect(lambda f: f.kind == "Ack" and f.written == w // 2)
    a.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    a.close()                                     # dropped without Goodbye (RST)
    time.sleep(0.5)
    a2 = connect(name, resume_key=key)
    r = a2.send_file(data, file, to="server", fingerprint=fp)
    check(r.accept.offset > 0, f"no resume offered: {r.accept}")
    check(r.accept.prefix_sha256 == hashlib.sha256(data[:r.accept.offset]).digest(), "prefix hash differs")
    return f"resumed at {r.accept.offset} (acked {w // 2}) with a correct prefix hash; Verified"


def s_max_16_incoming():
    c = connect()
    answers, accepted = [], []
    for i in range(17):
        tid = attp.new_id()
        c.send("Offer", id=tid, to="server", file=f"many-{RUN}-{i}.bin", size=1, fingerprint=1)
        f = c.expect(lambda f, t=tid: f.kind in ("Accept", "Reject") and f.id == t)
        answers.append(f.kind)
        if f.kind == "Accept":
            accepted.append(tid)
    for tid in accepted:
        c.send("Cancel", id=tid, by="", reason="test over")
    check(answers == ["Accept"] * 16 + ["Reject"], f"{answers}")
    return "16 accepted, 17th rejected"


def s_relay_same_id_two_senders():
    """Two senders pick the same id for the same receiver: ids are relayed unchanged, so the second is rejected."""
    a, c, b = connect(), connect(), connect()
    tid = attp.new_id()
    a.send("Offer", id=tid, to=b.name, file=f"s1-{RUN}.bin", size=10, fingerprint=1)
    b.expect("Offer")
    c.send("Offer", id=tid, to=b.name, file=f"s2-{RUN}.bin", size=10, fingerprint=1)
    f = c.expect(lambda f: f.kind in ("Accept", "Reject") and f.id == tid)
    try:
        g = b.expect("Offer", 1)
        extra = f"; b received a second Offer with the same id ({g.file})"
    except TimeoutError:
        extra = ""
    check(f.kind == "Reject" and not extra, f"second sender got {f}{extra}")
    return f"second sender: Reject ({f.reason!r})"


# ------------------------------------------------------------------------- rooms, history, registered names (v4)

def uroom(prefix="r"):
    """A room name no earlier run used: '#' and a name as people's names are."""
    return "#" + uname(prefix)


def no_room_frame(c: Client, room, seconds=0.7):
    """Nothing about `room` (a Chat or History to it, or a room frame naming it) comes within `seconds`."""
    r = room.casefold()
    try:
        f = c.expect(lambda f: f.kind in ("Chat", "History") and f.to.casefold() == r
                     or f.kind.startswith(("Room", "Member")) and getattr(f, "room", "").casefold() == r, seconds)
    except TimeoutError:
        return
    raise AssertionError(f"{c.name} got {f}")


def joined_ok(c: Client, room, members=None, spelled=None):
    """JoinRoom, check the RoomJoined (not rejoined) and its run; returns (RoomJoined, lines, HistoryEnd)."""
    j, lines, end = c.join_room(room, spelled=spelled)
    check(j.kind == "RoomJoined", f"{c.name} joining {room!r}: {j}")
    check(not j.rejoined, f"rejoined 1 on a JoinRoom: {j}")
    check(members is None or j.members == members, f"{j}: expected {members} members")
    check(end.target == j.room and all(f.to == j.room for f in lines), f"run {lines[:2]}... {end}")
    return j, lines, end


def s_room_join_then_history():
    """JoinRoom is answered with RoomJoined, then the room's recent lines as History and a HistoryEnd; the other
    members online hear MemberJoined; joining again is harmless (the same answer again)."""
    room = uroom()
    a, b = connect(), connect()
    j, lines, end = joined_ok(a, room, members=1)
    check(j.room == room and j.topic == "" and not lines and not end.more, f"a new room: {j}, {lines}, {end}")
    acks = [say_ok(a, f"line {i} in {room}", to=room) for i in range(3)]
    check(all(not f.held for f in acks), f"held on a line to a room: {acks}")
    j2, lines2, end2 = joined_ok(b, room, members=2)
    check([f.text for f in lines2] == [f"line {i} in {room}" for i in range(3)], f"History {lines2}")
    check(all(f.from_ == a.name and f.to == room for f in lines2), f"{lines2}")
    check([f.at for f in lines2] == [f.at for f in acks], f"History at {[f.at for f in lines2]}, SayAcks at "
                                                          f"{[f.at for f in acks]}")
    seqs = [f.seq for f in lines2]
    check(seqs == sorted(set(seqs)), f"seqs not increasing (oldest first): {seqs}")
    mj = a.expect("MemberJoined")
    check(mj.room == room and mj.name == b.name, f"{mj}")
    no_frame(b, "MemberJoined", 0.3)                   # "The other members online hear MemberJoined"
    j3, lines3, _ = joined_ok(b, room, members=2)      # "Joining a room one is in again is harmless"
    check([f.seq for f in lines3] == seqs, f"joining again: History seqs {[f.seq for f in lines3]}, first {seqs}")
    no_frame(a, "MemberJoined", 0.5)
    return (f"RoomJoined({j.room!r}, members 1) + empty run {end}; the second member: RoomJoined(members 2), "
            f"{len(lines2)} History (seqs {seqs}, at = the SayAcks') and {end2}; MemberJoined to the first; joining "
            f"again gave the same answer and no MemberJoined")


def s_room_line_reaches_members_only():
    """A line to a room reaches its members online, not its sender, as Chat with to = the room; a non-member's Say
    to it gets SayRefused 18, and so does one to a room that does not exist; only members read its history."""
    room = uroom()
    a, b, c = connect(), connect(), connect()
    joined_ok(a, room)
    joined_ok(b, room)
    ack = say_ok(a, "members only", to=room)
    m = b.expect("Chat")
    check(m.from_ == a.name and m.to == room and m.text == "members only" and m.at == ack.at and not ack.held,
          f"{m} (SayAck {ack})")
    no_room_frame(c, room)
    no_frame(a, "Chat", 0.2)                           # not echoed to its sender
    f = say_refused(c, "let me in", room, attp.NOT_MEMBER)
    g = say_refused(c, "anyone?", uroom("none"), attp.NOT_MEMBER)
    no_frame(b, "Chat", 0.3)
    h, _ = c.history(room)
    check(h.kind == "RoomRefused" and h.code == attp.NOT_MEMBER, f"a non-member's HistoryRequest: {h}")
    return (f"Chat to {m.to!r} reached the member, not the non-member nor the sender; non-member: SayRefused 18 "
            f"({f.reason!r}); to a room nobody made: 18 ({g.reason!r}); its HistoryRequest: RoomRefused 18")


def s_room_lookalike_names_one_room():
    """'rooms that look alike are one room': other case, a Cyrillic ѕ, fullwidth letters all join the room as its
    first member spelled it, and lines to any spelling reach every member with to = that spelling."""
    room = "#Rust" + uname("s")[1:]
    a = connect()
    joined_ok(a, room, members=1)
    variants = [room.lower(), room.upper(), room.replace("s", "\u0455"),           # Cyrillic ѕ
                "#" + "".join(chr(ord(ch) + 0xFEE0) for ch in room[1:])]          # fullwidth
    clients, out = [], []
    for n, v in enumerate(variants):
        c = connect()
        j, _, _ = joined_ok(c, v, members=n + 2, spelled=room)
        check(j.room == room, f"JoinRoom {v!r} answered for {j.room!r}, not {room!r}")
        clients.append(c)
        out.append(v)
    ack = say_ok(clients[1], "by another spelling", to=variants[2])
    for c in [a, clients[0], clients[2], clients[3]]:
        m = c.expect("Chat")
        check(m.to == room and m.text == "by another spelling" and m.at == ack.at, f"{c.name}: {m}")
    listed = [r for r in a.rooms() if r.room.casefold() == room.casefold()]
    check(len(listed) == 1 and listed[0].room == room and listed[0].members == 5, f"RoomList: {listed}")
    ml = a.members(variants[3], spelled=room)
    check(ml.kind == "MemberList" and ml.room == room and len(ml.members) == 5, f"{ml}")
    return f"{out} joined {room!r} (5 members, one RoomList entry); a line to {variants[2]!r} reached all as {room!r}"


def s_room_invalid_names_refused4():
    """A room's name is '#' and a name as people's names are: else RoomRefused 4 (the reason says why)."""
    c = connect()
    out = []
    for r in ("#", "#a b", "#" + "x" * 33, "#a/b", "#a\u200bb", "##x", "no-hash" + str(RUN)):
        j, _, _ = c.join_room(r)
        check(j.kind == "RoomRefused" and j.code == attp.INVALID_NAME and j.room == r, f"{r!r}: {j}")
        out.append(f"{r[:12]!r}")
    j, _, _ = joined_ok(c, "#" + uname("x").ljust(32, "x"))
    check(c.leave_room(j.room).kind == "RoomLeft", "leaving the 32-character room")
    return f"{', '.join(out)} -> RoomRefused 4; a 32-character name joined"


def s_room_list_members_topic():
    """RoomsRequest -> RoomList (members, topic); MembersRequest -> MemberList (anyone may ask; online flags; a room
    that does not exist: RoomRefused 18); SetTopic by a member -> RoomTopic to every member online, the setter too
    (a non-member: RoomRefused 18; over 512 bytes: 13); a later joiner sees the topic in its RoomJoined."""
    room = uroom()
    names = [uname("Mz"), uname("ma"), uname("MB")]
    a, b, gone = connect(names[0]), connect(names[1]), connect(names[2])
    outsider = connect()
    for c in (a, b, gone):
        joined_ok(c, room)
    gone.goodbye()                                     # "Membership lasts across connections"
    time.sleep(0.3)
    ml = outsider.members(room)
    check(ml.kind == "MemberList" and ml.room == room, f"{ml}")
    got = {m.name: m.online for m in ml.members}
    check(got == {names[0]: True, names[1]: True, names[2]: False}, f"MemberList {ml.members}")
    order = [m.name for m in ml.members]
    check(order == sorted(order, key=str.casefold), f"MemberList not in order of names: {order}")
    t0 = int(time.time() * 1000)
    topic = "on parle français, " + "é" * 200
    mine = a.set_topic(room, topic)
    check(mine.kind == "RoomTopic" and mine.by == a.name and mine.topic == topic, f"{mine}")
    check(abs(mine.at - t0) < 5000, f"RoomTopic at {mine.at}, local {t0}")
    theirs = b.expect("RoomTopic")
    check((theirs.room, theirs.by, theirs.at, theirs.topic) == (room, a.name, mine.at, topic), f"{theirs}")
    no_room_frame(outsider, room, 0.3)
    r = outsider.set_topic(room, "mine now")
    check(r.kind == "RoomRefused" and r.code == attp.NOT_MEMBER, f"a non-member's SetTopic: {r}")
    r = a.set_topic(room, "x" * 513)
    check(r.kind == "RoomRefused" and r.code == attp.TOO_LONG, f"a 513-byte topic: {r}")
    r = a.set_topic(room, "é" * 256)                   # 512 bytes: at the limit
    check(r.kind == "RoomTopic" and r.topic == "é" * 256, f"a 512-byte topic: {r}")
    b.expect("RoomTopic")
    a.set_topic(room, topic)
    listed = [x for x in outsider.rooms() if x.room == room]
    check(listed == [attp.RoomInfo(room, 3, topic)], f"RoomList entry {listed}")
    late, _, _ = joined_ok(outsider, room, members=4)
    check(late.topic == topic, f"a later joiner's RoomJoined: {late}")
    cleared = a.set_topic(room, "")
    check(cleared.kind == "RoomTopic" and cleared.topic == "", f"clearing: {cleared}")
    nowhere = outsider.members(uroom("none"))
    check(nowhere.kind == "RoomRefused" and nowhere.code == attp.NOT_MEMBER, f"a room nobody made: {nowhere}")
    return (f"MemberList {[(m.name, m.online) for m in ml.members]} to a non-member; RoomTopic to setter and member "
            f"(not the outsider); non-member SetTopic 18, 513 bytes 13, 512 bytes set; RoomList {listed[0][1:2]} "
            f"members with the topic; a later joiner saw it; MembersRequest for no room: 18 ({nowhere.reason!r})")


def s_room_leave():
    """LeaveRoom -> RoomLeft code 0, the others online hear MemberLeft; leaving a room one is not in: RoomRefused 18;
    after leaving, lines to it are refused (18); the last member's leaving closes the room and deletes its history."""
    room = uroom()
    a, b = connect(), connect()
    joined_ok(a, room)
    joined_ok(b, room)
    a.expect("MemberJoined")
    say_ok(b, "before b left", to=room)
    a.expect("Chat")
    left = b.leave_room(room)
    check(left.kind == "RoomLeft" and left.code == 0 and left.room == room, f"{left}")
    ml = a.expect("MemberLeft")
    check(ml.room == room and ml.name == b.name, f"{ml}")
    again = b.leave_room(room)
    check(again.kind == "RoomRefused" and again.code == attp.NOT_MEMBER, f"leaving again: {again}")
    say_refused(b, "still here?", room, attp.NOT_MEMBER)
    h, _ = b.history(room)
    check(h.kind == "RoomRefused" and h.code == attp.NOT_MEMBER, f"HistoryRequest after leaving: {h}")
    say_ok(a, "alone now", to=room)
    no_room_frame(b, room, 0.3)
    check([x.members for x in b.rooms() if x.room == room] == [1], "RoomList after b left")
    last = a.leave_room(room)
    check(last.kind == "RoomLeft" and last.code == 0, f"{last}")
    check(not [x for x in b.rooms() if x.room.casefold() == room.casefold()], "the room is still listed")
    gone = b.members(room)
    check(gone.kind == "RoomRefused" and gone.code == attp.NOT_MEMBER, f"MembersRequest for a closed room: {gone}")
    j, lines, end = joined_ok(a, room, members=1)
    check(not lines and not end.more, f"history of a closed room came back: {lines} {end}")
    return (f"RoomLeft 0 ({left.reason!r}), MemberLeft to the other; leaving again: 18; Say and HistoryRequest "
            f"after leaving: 18; the last leaving closed it (not listed, MembersRequest 18) and a new room of that "
            f"name had no history")


def s_history_paging():
    """A joiner gets the room's 50 most recent lines; HistoryRequest pages back (count capped at 200), with
    before = the last HistoryEnd's oldest, until more = 0; every line comes exactly once, oldest first."""
    room = uroom()
    n = 250
    a, b = connect(), connect()
    joined_ok(a, room)
    ids = [a.say(f"{room} line {i}", to=room) for i in range(n)]
    acks = say_answers(a, ids, 30)
    check(all(f.kind == "SayAck" for f in acks), f"{[f for f in acks if f.kind != 'SayAck'][:3]}")
    _, recent, rend = joined_ok(b, room, members=2)
    check([f.text for f in recent] == [f"{room} line {i}" for i in range(n - 50, n)],
          f"{len(recent)} recent lines on joining, from {recent[0].text if recent else None!r}")
    check(rend.more, f"{rend} after the 50 recent of {n} lines")
    pages, lines, before = [], [], 0
    while True:
        page, end = b.history(room, before, 1000)
        check(end is not None and end.kind == "HistoryEnd", f"page {len(pages) + 1}: {page}")
        check(len(page) <= 200, f"{len(page)} lines for count 1000: the server caps count (200 by default)")
        seqs = [f.seq for f in page]
        check(seqs == sorted(set(seqs)), f"page {len(pages) + 1}: seqs {seqs[:5]}... not oldest first")
        check(not before or all(s < before for s in seqs), f"a line at or after before={before}: {seqs[-3:]}")
        check(not page or end.oldest <= seqs[0], f"{end}, oldest line seq {seqs[0]}")
        pages.append(len(page))
        lines = page + lines
        if not end.more:
            break
        check(len(pages) < 10, f"still more after {pages}")
        before = end.oldest
    texts = [f.text for f in lines]
    check(texts == [f"{room} line {i}" for i in range(n)], f"{len(texts)} lines paged, not the {n} said, in order")
    check([f.at for f in lines] == [f.at for f in acks], "History at differs from the SayAcks'")
    # the server-wide room's history: "everyone reads the server-wide room's"
    wide, wend = b.history("", 0, 5)
    check(wend is not None and wend.target == "" and len(wide) <= 5 and all(f.to == "" for f in wide),
          f"server-wide: {wide} {wend}")
    return (f"{len(recent)} recent lines on joining (more {rend.more:d}); {n} lines paged back in pages of {pages} "
            f"(count 1000 asked), each exactly once, oldest first, to more=0; server-wide room: {len(wide)} lines")


def s_room_scrollback_on_reconnect():
    """Membership lasts across connections: on the next connection with its resume key a member gets RoomJoined
    rejoined 1, then the room's recent lines (those said while it was away too) and a HistoryEnd, before any live
    line of the room."""
    room = uroom()
    name = uname("back")
    a, b = connect(name), connect()
    key = a.welcome.resume_key
    joined_ok(a, room)
    joined_ok(b, room)
    say_ok(a, "before I go", to=room)
    a.goodbye()
    away = [say_ok(b, f"while away {i}", to=room) for i in range(3)]
    check(not any(f.held for f in away), "held on a room line")
    b.backlog.clear()
    a2 = connect(name, resume_key=key)
    b.expect(lambda f: f.kind == "PeerJoined" and f.name == name)
    live = say_ok(b, "live after reconnect", to=room)   # sent as soon as b hears of a2
    frames = []
    r = room.casefold()
    while True:
        f = a2.expect(lambda f: f.kind in ("RoomJoined", "History", "HistoryEnd", "Chat", "RoomLeft")
                      and (getattr(f, "room", None) or getattr(f, "to", None) or getattr(f, "target", "")).casefold()
                      == r)
        frames.append(f)
        if f.kind == "Chat":
            break
    kinds = [f.kind for f in frames]
    check(kinds[0] == "RoomJoined" and frames[0].rejoined and frames[0].members == 2,
          f"first frame about the room: {frames[0]}")
    check(kinds[-2:] == ["HistoryEnd", "Chat"] and set(kinds[1:-2]) <= {"History"}, f"order: {kinds}")
    texts = [f.text for f in frames if f.kind == "History"]
    check(texts[-4:] == ["before I go"] + [f"while away {i}" for i in range(3)], f"scrollback {texts}")
    check(frames[-1].text == "live after reconnect" and frames[-1].at == live.at, f"{frames[-1]}")
    no_frame(a2, "RoomJoined", 0.3)
    return (f"RoomJoined(rejoined 1, members 2), {len(texts)} History incl. the 3 said while away, HistoryEnd, then "
            f"the live Chat: {kinds[0]}, {len(kinds) - 3}×History, {kinds[-2]}, {kinds[-1]}")


def s_registered_name_refused3():
    """A name is registered to the first key that connects with it: afterwards another key (or none) gets Refused 3
    for it and for a look-alike, while its owner is away; the owner's key is welcomed with registered 1."""
    name = "reg" + uname("n")[1:]
    a = connect(name)
    key = a.welcome.resume_key
    check(a.welcome.registered, f"first connection: {a.welcome}")
    a.goodbye()
    time.sleep(0.2)
    out = []
    for v, k in ((name, os.urandom(32)), (name, b""), (name.upper(), os.urandom(32)),
                 (name[:-1] + chr(ord(name[-1]) + 0xFEE0), b"")):
        f = refused(v, resume_key=k)
        check(f.code == attp.NAME_TAKEN, f"{v!r} with {'another' if k else 'no'} key: {f}")
        out.append(f.reason)
    a2 = connect(name, resume_key=key)
    check(a2.welcome.registered and a2.welcome.your_name == name, f"the owner back: {a2.welcome}")
    return f"registered 1; another key / no key / look-alikes refused 3 ({out[0]!r}); the owner welcomed, registered 1"


def s_unregister_name_status():
    """Unregister -> NameStatus(name, registered 0); the name stays the client's while connected; afterwards a
    direct message to it is refused (12) while nobody has it, and another key may take it (and registers it)."""
    name = "unr" + uname("n")[1:]
    a, c = connect(name), connect()
    key = a.welcome.resume_key
    st = a.unregister()
    check(st.name == name and st.registered is False and st.reason, f"{st}")
    check(refused(name, resume_key=os.urandom(32)).code == attp.NAME_TAKEN, "taken while its client is online")
    say_ok(c, "still reachable", to=name)
    check(a.expect("Chat").text == "still reachable", "direct message while online after Unregister")
    st2 = a.unregister()
    check(st2.name == name and st2.registered is False, f"Unregister again: {st2}")
    a.goodbye()
    c.expect(lambda f: f.kind == "PeerLeft" and f.name == name)
    f = say_refused(c, "are you there?", name, attp.UNKNOWN_PEER)
    other = connect(name, resume_key=os.urandom(32))
    check(other.welcome.your_name == name and other.welcome.registered, f"another key: {other.welcome}")
    other.goodbye()
    time.sleep(0.2)
    g = refused(name, resume_key=key)
    check(g.code == attp.NAME_TAKEN, f"the former owner: {g}")
    return (f"NameStatus registered 0 ({st.reason!r}); again: {st2.reason!r}; offline: SayRefused 12 "
            f"({f.reason!r}); another key took it (registered 1); the former owner: Refused 3")


def s_held_direct_message():
    """A direct message to an offline registered name: SayAck held 1; on its owner's next connection it comes as
    History with to = its own name (after the server-wide room's run), ending with a HistoryEnd; a direct message
    while online comes as Chat and neither is sent again."""
    name = uname("held")
    a, b = connect(name), connect()
    key = a.welcome.resume_key
    a.goodbye()
    b.expect(lambda f: f.kind == "PeerLeft" and f.name == name)
    acks = [say_ok(b, "while you were away", to=name), say_ok(b, "by another spelling", to=name.upper())]
    check(all(f.held is True for f in acks), f"SayAcks {acks}")
    a2 = connect(name, resume_key=key)
    first = a2.expect({"History", "HistoryEnd"})
    check(first.kind == "HistoryEnd" and first.target == "" or first.kind == "History" and first.to == "",
          f"the first run after Welcome is not the server-wide room's: {first}")
    if first.kind == "History":
        a2.history_run("")
    lines, end = a2.history_run(name)
    check([(f.from_, f.to, f.text, f.at) for f in lines] ==
          [(b.name, name, t, k.at) for t, k in zip(("while you were away", "by another spelling"), acks)],
          f"kept for us: {lines}")
    check(not end.more and end.target == name, f"{end}")
    ack = say_ok(b, "now you are here", to=name)
    check(not ack.held, f"held while online: {ack}")
    m = a2.expect("Chat")
    check(m.text == "now you are here" and m.to == name, f"{m}")
    no_frame(a2, {"History", "HistoryEnd"}, 0.3)
    a2.goodbye()
    a3 = connect(name, resume_key=key)
    a3.history_run("")
    try:
        again = a3.expect(lambda f: f.kind == "History" and f.to == name
                          or f.kind == "HistoryEnd" and f.target == name, 1.0)
        raise AssertionError(f"sent again on the next connection: {again}")
    except TimeoutError:
        pass
    return (f"SayAck held 1 (twice, one to {name.upper()!r}); on reconnecting: server-wide run, then "
            f"{len(lines)} History to {name!r} and {end}; a line while online: Chat, held 0; nothing sent again")


def s_room_limit_refused19():
    """'the client is in as many rooms as it may be, 50 by default': the 51st JoinRoom gets RoomRefused 19. (The
    joins beyond the burst wait at the server: waiting, not refused.)"""
    c = connect()
    rooms = [uroom("lim") for _ in range(51)]
    c.send_raw(b"".join(encode("JoinRoom", room=r) for r in rooms))
    answers = {}
    while len(answers) < len(rooms):
        f = c.expect({"RoomJoined", "RoomRefused", "Error"}, 15)
        check(f.kind != "Error", f"{f}")
        answers[f.room] = f
    refusals = [f for f in answers.values() if f.kind == "RoomRefused"]
    check(len(refusals) == 1 and refusals[0].code == attp.LIMIT_REACHED, f"refusals: {refusals}")
    last = "the last sent" if refusals[0].room == rooms[-1] else f"{refusals[0].room!r}, not the last sent"
    ins = [f.room for f in answers.values() if f.kind == "RoomJoined"]
    c.send_raw(b"".join(encode("LeaveRoom", room=r) for r in ins))
    left = [c.expect({"RoomLeft", "RoomRefused", "Error"}, 20) for _ in ins]
    check(all(f.kind == "RoomLeft" for f in left), f"{[f for f in left if f.kind != 'RoomLeft'][:3]}")
    return f"{len(ins)} RoomJoined, one RoomRefused 19 ({last}: {refusals[0].reason!r}); all {len(ins)} left again"


def s_pace_room_and_history_within_rates():
    """'A client that keeps within them is never slowed down or refused': room_burst room requests at once and
    then one per 1/room_rate s, history_burst HistoryRequests at once and then one per 1/history_rate s: all
    answered at once, none refused. Then a burst plus 2 more at once: the 2 wait about 1/rate each."""
    c = connect()
    c.history_run("")                                   # the connection's own run, not an answer
    room = uroom()
    joined_ok(c, room)
    r = c.rates
    time.sleep(1.5 / r.room_rate)                       # the join's token back
    kinds = ["RoomsRequest", "MembersRequest", "SetTopic"]
    answer = {"RoomsRequest": "RoomList", "MembersRequest": "MemberList", "SetTopic": "RoomTopic"}
    reqs = [kinds[i % 3] for i in range(r.room_burst)]
    def room_req(k, i):
        return encode(k, room=room, topic=f"t{i}") if k != "RoomsRequest" else encode(k)

    def answers_to(kinds_sent, timeout):
        # room answers within a burst may come in any order: count them by kind
        want = sorted(answer[k] for k in kinds_sent)
        got = []
        while len(got) < len(want):
            f = c.expect(lambda f: f.kind in ("RoomList", "MemberList", "RoomTopic", "RoomRefused", "Error"),
                         timeout)
            check(f.kind not in ("RoomRefused", "Error"), f"within the rates: {f}")
            got.append(f.kind)
        check(sorted(got) == want, f"{got}")
    t0 = time.monotonic()
    c.send_raw(b"".join(room_req(k, i) for i, k in enumerate(reqs)))
    answers_to(reqs, 5)
    burst_secs = time.monotonic() - t0
    # had part of the burst waited, the rest would take 1/room_rate each (about 2 s for half of it)
    check(burst_secs < 1.0, f"the burst of {r.room_burst} took {burst_secs:.2f}s")
    slow = []
    for i in range(2 * r.room_rate):                   # two seconds at room_rate
        time.sleep(1 / r.room_rate)
        t = time.monotonic()
        c.send_raw(room_req(kinds[i % 3], i))
        answers_to([kinds[i % 3]], 5)
        slow.append(time.monotonic() - t)
    check(max(slow) < 0.8 / r.room_rate + 0.3, f"a request within the rate waited {max(slow):.2f}s")
    # history
    time.sleep(r.history_burst / r.history_rate)       # a full bucket
    t0 = time.monotonic()
    c.send_raw(encode("HistoryRequest", target=room, before=0, count=5) * r.history_burst)
    for _ in range(r.history_burst):
        f = c.expect(lambda f: f.kind in ("HistoryEnd", "RoomRefused", "Error") and getattr(f, "target", room) == room
                     and getattr(f, "room", room) == room, 5)
        check(f.kind == "HistoryEnd", f"within the rates: {f}")
    hburst = time.monotonic() - t0
    check(hburst < 0.8 / r.history_rate, f"the history burst took {hburst:.2f}s")
    hslow = []
    for _ in range(3):
        time.sleep(1 / r.history_rate)
        t = time.monotonic()
        c.send("HistoryRequest", target="", before=0, count=5)
        f = c.expect(lambda f: f.kind in ("HistoryEnd", "RoomRefused", "Error") and getattr(f, "target", "") == ""
                     and getattr(f, "room", "") == "", 5)
        check(f.kind == "HistoryEnd", f"within the rates: {f}")
        hslow.append(time.monotonic() - t)
    check(max(hslow) < 0.8 / r.history_rate + 0.3, f"a HistoryRequest within the rate waited {max(hslow):.2f}s")
    # beyond the burst: they wait, and are answered
    time.sleep(r.history_burst / r.history_rate)
    t0 = time.monotonic()
    c.send_raw(encode("HistoryRequest", target="", before=0, count=1) * (r.history_burst + 2))
    times = []
    for _ in range(r.history_burst + 2):
        f = c.expect(lambda f: f.kind in ("HistoryEnd", "RoomRefused", "Error") and getattr(f, "target", "") == ""
                     and getattr(f, "room", "") == "", 5)
        check(f.kind == "HistoryEnd", f"beyond the burst: {f}")
        times.append(round(time.monotonic() - t0, 2))
    gap = 1 / r.history_rate
    for k in (r.history_burst, r.history_burst + 1):
        check(0.7 * gap <= times[k] - times[k - 1] <= 2 * gap + 0.5, f"HistoryEnd {k + 1} not ~{gap}s later: {times}")
    no_frame(c, "Error", 0.3)
    return (f"{r.room_burst} room requests at once answered in {burst_secs:.2f}s, {len(slow)} at {r.room_rate}/s "
            f"each within {max(slow):.2f}s; {r.history_burst} HistoryRequests at once in {hburst:.2f}s, 3 at "
            f"{r.history_rate}/s within {max(hslow):.2f}s; {r.history_burst}+2 at once: answered at {times} s; "
            f"no refusal")


def collect_until_closed(c: Client, timeout):
    """Every frame (Pings aside) until the server closes or timeout passes: (frames, their arrival times in seconds
    from now)."""
    frames, times, t0 = list(c.backlog), [0.0] * len(c.backlog), time.monotonic()
    c.backlog.clear()
    deadline = t0 + timeout
    while not c.closed and time.monotonic() < deadline:
        got = c._read_more(deadline - time.monotonic())
        frames += got
        times += [time.monotonic() - t0] * len(got)
    return frames, times


def tiny_say_flood(n, to):
    """n Says to `to`, ids 1..n, each saying its id, as one write: a few dozen bytes each ("unless each is tiny").
    Floods go to one client, not to everyone: broadcasts would reach bg_idle too, which must hear nothing for a
    while to be sent Pings."""
    return b"".join(encode("Say", id=i, to=to, text=str(i)) for i in range(1, n + 1))


def s_rate_limit_500_says():
    """500 Says at once: 'A Say ... beyond its rate waits': the burst passes at once, the rest at the chat rate, all
    are acknowledged in order and none is lost or refused (500 - 200 waiting is far below the backlog of 1,000).
    (To one client, not to everyone: see tiny_say_flood.)"""
    n = 500
    watcher = connect()
    c = connect()
    watcher.expect(lambda f: f.kind == "PeerJoined" and f.name == c.name)
    r = c.rates
    pace = (n - r.chat_burst) / r.chat_rate                  # 15 s with the defaults
    t0 = time.monotonic()
    c.send_raw(b"".join(encode("Say", id=i, to=watcher.name, text=f"flood {i}") for i in range(1, n + 1)))
    answers, times = [], []
    try:
        while len(answers) < n:
            f = c.expect({"SayAck", "SayRefused", "Error"}, 10)
            answers.append(f)
            times.append(time.monotonic() - t0)
    except TimeoutError:
        pass
    secs = time.monotonic() - t0
    refused = [f for f in answers if f.kind != "SayAck"]
    check(not refused, f"{len(refused)} refused, first {refused[:3]}; {len(answers)} answers in {secs:.1f}s")
    check([f.id for f in answers] == list(range(1, n + 1)),
          f"{len(answers)} SayAcks, ids not 1..{n} in order: {[f.id for f in answers][:10]}...")
    # token buckets that start full: the burst at once, then chat_rate a second
    span = (answers[-1].at - answers[0].at) / 1000
    check(span >= pace - 1, f"{n} lines stamped within {span:.1f}s; the rate allows no less than {pace:.0f}s")
    check(times[r.chat_burst - 1] < min(3.0, pace / 2), f"the burst's last SayAck came after {times[r.chat_burst - 1]:.1f}s")
    check(secs <= pace + 10, f"the last SayAck came after {secs:.1f}s; the rate allows {pace:.0f}s")
    texts = [watcher.expect("Chat", 10).text for _ in range(n)]
    check(texts == [f"flood {i}" for i in range(1, n + 1)], "the recipient did not get every line, in order")
    no_frame(c, {"Error", "Goodbye"}, 0.3)
    return (f"{n} SayAcks in order, none refused; burst of {r.chat_burst} within {times[r.chat_burst - 1]:.2f}s, "
            f"all within {secs:.1f}s (stamps span {span:.1f}s; {pace:.0f}s expected); the watcher got all {n}")


def s_rate_limit_who():
    """7 WhoRequests at once, bursts of 5 at 1 a second: all 7 answered (the last two wait about a second each),
    no Error."""
    c = connect()
    r = c.rates
    n = r.who_burst + 2
    t0 = time.monotonic()
    c.send_raw(encode("WhoRequest") * n)
    got, times = [], []
    try:
        while len(got) < n:
            f = c.expect({"WhoReply", "Error"}, 5)
            got.append(f.kind if f.kind == "WhoReply" else f"Error {f.code}")
            times.append(round(time.monotonic() - t0, 2))
    except TimeoutError:
        pass
    check(got == ["WhoReply"] * n, f"{got} at {times}")
    gap = 1 / r.who_rate
    check(times[r.who_burst - 1] < 0.8 * gap, f"the burst was not answered at once: {times}")
    for k in (r.who_burst, r.who_burst + 1):
        check(0.7 * gap <= times[k] - times[k - 1] <= 2 * gap + 0.5, f"reply {k + 1} not ~{gap}s after {k}: {times}")
    no_frame(c, "Error", 0.3)
    check(c.name in c.who(8), "no WhoReply afterwards")
    return f"{n} WhoReplies at {times} s, no Error; connection stays open"


def s_say_backlog_answers_in_order():
    """A flood of tiny Says beyond the backlog ("Pace"): every Say read and not yet answered counts as waiting, and
    only when more than the backlog (1,000 by default) wait is a line refused, with SayRefused code 15 (and no Error:
    the line has its own answer). SayAcks come in the order of the Says; a refusal may come ahead of earlier lines
    still waiting. After 100 refusals, Goodbye 15 (lines still waiting are dropped unanswered: "A line whose answer
    never came because the session ended ... may or may not have been passed on"). Acknowledged lines reached the
    watcher and refused ones did not."""
    for _ in range(60):                                # an earlier flood may have the address waiting
        try:
            watcher = connect()
            c = connect()
            break
        except Refused:
            time.sleep(1)
    watcher.expect(lambda f: f.kind == "PeerJoined" and f.name == c.name)
    r, backlog, n = c.rates, 1000, 3000
    c.send_raw(tiny_say_flood(n, watcher.name))
    frames, times = collect_until_closed(c, (backlog / r.chat_rate) + 30)
    answers = [f for f in frames if f.kind in ("SayAck", "SayRefused")]
    acks = [f.id for f in answers if f.kind == "SayAck"]
    refused = [f for f in answers if f.kind == "SayRefused"]
    errors = [f for f in frames if f.kind == "Error"]
    end = frames[-1] if frames and frames[-1].kind == "Goodbye" else None
    seen = f"{len(acks)} SayAck, {len(refused)} SayRefused (first {refused[0] if refused else None}), " \
           f"{len(errors)} Error, end {end} after {times[-1] if times else 0:.1f}s"
    problems = []
    if acks != sorted(acks) or len(set(acks)) != len(acks):
        problems.append(f"SayAcks not in the order of the Says: {acks[:10]}...")
    if len({f.id for f in answers}) != len(answers):
        problems.append("a Say answered twice")
    early = [f.id for f in refused if f.id <= backlog]
    if early:
        problems.append(f"{len(early)} of the first {backlog} lines refused: at most one passes on and {backlog} wait "
                        f"before any is refused (the first refused is id {early[0]})")
    if any(f.code != 15 for f in refused):
        problems.append(f"refusal codes {sorted({f.code for f in refused})}")
    if errors:
        problems.append(f"{len(errors)} Error frames besides the SayRefused ones")
    if len(refused) > 100 and not end:
        problems.append("more than 100 refused lines but no Goodbye 15")
    if end and (end.code != 15 or len(refused) < 100):
        problems.append(f"ended with {end} after {len(refused)} refusals")
    chats = []
    while True:
        try:
            chats.append(watcher.expect("Chat", 2).text)
        except TimeoutError:
            break
    acked = set(acks)
    got = {int(t) for t in chats}
    if acked - got:
        problems.append(f"{len(acked - got)} lines acknowledged but not received by the watcher")
    if got & {f.id for f in refused}:
        problems.append(f"refused lines reached the watcher: {sorted(got & {f.id for f in refused})[:5]}")
    check(not problems, "; ".join(problems) + f" [{seen}; watcher got {len(chats)} lines]")
    return seen + f"; watcher got {len(chats)} lines"


def s_connect_after_rate_limit_disconnect():
    """After a Goodbye 15 the address is refused with code 15 and the time left, then let in again (as documented).
    To be disconnected a client must now exceed the backlog (1,000 waiting lines) and then have 100 lines refused:
    3,000 tiny Says at once. (PROTOCOL.md does not promise that such a flood is read before the server stops reading:
    'more than a client can send in the reads it does before the server stops reading, unless each is tiny'.)"""
    for _ in range(60):                                # an earlier flood may have the address waiting
        try:
            c = connect()
            break
        except Refused:
            time.sleep(1)
    c.send_raw(tiny_say_flood(3000, c.name))        # to itself: "comes back as a Chat to oneself"
    frames, _ = collect_until_closed(c, 1000 / c.rates.chat_rate + 30)
    refused = [f for f in frames if f.kind == "SayRefused"]
    end = frames[-1] if frames else None
    check(end and end.kind == "Goodbye" and end.code == 15,
          f"no Goodbye 15 after a flood of 3,000 tiny Says: {len(refused)} SayRefused, last frame {end}, {c.closed}")
    check(len(refused) >= 100 and all(f.code == 15 for f in refused),
          f"Goodbye 15 after {len(refused)} refused lines (codes {sorted({f.code for f in refused})})")
    try:
        connect()
        raise AssertionError("a new connection right after the Goodbye 15 was welcomed")
    except Refused as e:
        first, clear = e.frame, e.refused_in_clear
    check(first.code == 15 and "try again in" in first.reason, f"Refused {first.code} {first.reason!r}")
    # "Refusals before TLS": code 15 with "try again in" comes in the clear, without TLS
    check(clear == (TLS is not None), f"Refused 15 {'not ' if TLS else ''}in the clear before TLS")
    t0 = time.monotonic()
    for _ in range(60):
        time.sleep(0.5)
        try:
            connect()
            return (f"Goodbye 15 after {len(refused)} SayRefused 15; Refused 15 ({first.reason!r})"
                    f"{' in the clear before TLS' if clear else ''}, let in again {time.monotonic() - t0:.1f}s later")
        except Refused:
            continue
    raise AssertionError(f"still refused 30 s after {first.reason!r}")


# ------------------------------------------------------------------------------------------------- TLS scenarios

def doc_clear_refusal() -> bytes:
    """The bytes of the document's <!-- clear-refusal --> block."""
    doc = open(os.path.join(os.path.dirname(__file__), "../../docs/PROTOCOL.md"), encoding="utf-8").read()
    block = doc.split("<!-- clear-refusal -->", 1)[1].split("```", 2)[1]
    return bytes.fromhex("".join(block.split()))


def tls_probe(tls: Tls) -> bytes:
    """Send the ClientHello `tls` makes on a fresh TCP connection; return what the server answers, raw, until it
    closes (or 3 s pass)."""
    sock = socket.create_connection((HOST, PORT), timeout=5)
    try:
        out = attp.ssl.MemoryBIO()
        obj = tls.context(verify_ca=False).wrap_bio(attp.ssl.MemoryBIO(), out, server_hostname=HOST)
        try:
            obj.do_handshake()
        except attp.ssl.SSLWantReadError:
            pass
        sock.sendall(out.read())
        got, deadline = b"", time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                more = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not more:
                break
            got += more
        return got
    finally:
        sock.close()


def tls_refused_handshake(tls: Tls, alert: int, alert_name: str):
    """The server answers this ClientHello with a fatal TLS alert (a TLS record, not a frame in the clear), and
    the client fails the handshake with TlsError."""
    raw = tls_probe(tls)
    check(len(raw) >= 7 and raw[0] == 0x15 and raw[5] == 2 and raw[6] == alert,
          f"expected a TLS alert record (15 03 0x 00 02 02 {alert:02x}), got {raw[:16].hex()}")
    try:
        c = Client.connect(HOST, PORT, uname(), tls=tls)
        _open.append(c)
    except TlsError as e:
        check(alert_name.lower() in str(e).lower().replace(" ", "_"), f"TlsError without {alert_name}: {e}")
        return f"server answered with alert record {raw[:7].hex()}; client: {e}"
    except Refused as e:
        raise AssertionError(f"a TLS failure surfaced as Refused {e.code} (in the clear: {e.refused_in_clear})")
    raise AssertionError(f"handshake with {tls} succeeded")


@tls_only
def s_tls_session_pinned():
    """TLS 1.3, ALPN akt/1 selected, the server's key is the pinned one, an ECDSA P-256 key."""
    c = connect()
    i = c.tls_info
    check(i and i.version == "TLSv1.3", f"version {i and i.version}")
    check(i.alpn == attp.ALPN, f"ALPN {i.alpn!r}")
    check(i.pinned and i.fingerprint == FINGERPRINT, f"fingerprint {i.fingerprint} (pinned: {i.pinned})")
    spki = attp.spki_of_certificate(i.certificate)
    # SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (65 bytes: 04 x y) }
    p256 = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")
    check(spki.startswith(p256) and len(spki) == 91, f"not an ECDSA P-256 key: {spki[:26].hex()}")
    check(c.name in c.who(), "no WhoReply over TLS")
    return f"{i.version}, {i.cipher}, ALPN {i.alpn}, P-256 key {i.fingerprint[:16]}… pinned"


@tls_only
def s_tls_wrong_pin_refused_by_client():
    """A key other than the pinned one: the client refuses loudly, before its Hello (so the name stays free)."""
    wrong = FINGERPRINT[:-1] + ("0" if FINGERPRINT[-1] != "0" else "1")
    name = uname("pin")
    try:
        c = Client.connect(HOST, PORT, name, tls=Tls(pin=wrong, remember=False))
        _open.append(c)
        raise AssertionError("connected although the server's key is not the pinned one")
    except attp.ServerKeyMismatch as e:
        check(e.expected == wrong and e.actual == FINGERPRINT, f"{e}")
        check(wrong in str(e) and FINGERPRINT in str(e) and "MISMATCH" in str(e), f"not loud enough: {e}")
        msg = str(e)
    connect(name)                                   # the Hello never left: the name is free
    # a key remembered per host:port is enforced when no pin is given
    saved = dict(attp.KNOWN_SERVERS)
    try:
        attp.KNOWN_SERVERS[f"{HOST}:{PORT}"] = wrong
        try:
            Client.connect(HOST, PORT, uname(), tls=Tls())
            raise AssertionError("connected although the server's key is not the remembered one")
        except attp.ServerKeyMismatch:
            pass
    finally:
        attp.KNOWN_SERVERS.clear()
        attp.KNOWN_SERVERS.update(saved)
    return f"{msg[:80]}…; remembered key enforced too; the name was still free afterwards"


@tls_only
def s_tls_plaintext_hello_clear_refusal16():
    """A client that starts in the clear (its Hello) gets exactly the document's clear-refusal bytes, then FIN."""
    want = doc_clear_refusal()
    sock = socket.create_connection((HOST, PORT), timeout=5)
    try:
        sock.sendall(encode("Hello", version=1, max_frame=attp.DEFAULT_MAX_FRAME, name=uname()))
        got = b""
        while True:
            try:
                more = sock.recv(65536)
            except ConnectionResetError:
                break
            if not more:
                break
            got += more
    finally:
        sock.close()
    check(got == want, f"got {got.hex()}\nwant {want.hex()}")
    f = attp.split_frames(bytearray(got), 1 << 20)[0]
    check(f.kind == "Refused" and f.code == attp.ENCRYPTION_MISMATCH, f"{f}")
    e = refused(uname(), tls=None)                  # the same through the client in plaintext mode
    check(e.code == 16 and e.reason == f.reason, f"{e}")
    return f"{len(got)} bytes equal to the document's: Refused 16 {f.reason!r}"


@tls_only
def s_tls12_only_client_fails():
    """TLS 1.2 and older are refused (alert 70, protocol_version)."""
    return tls_refused_handshake(Tls(pin=FINGERPRINT, min_version=attp.ssl.TLSVersion.TLSv1_2,
                                     max_version=attp.ssl.TLSVersion.TLSv1_2), 70, "PROTOCOL_VERSION")


@tls_only
def s_tls_alpn_without_akt1_fails():
    """A client that offers other protocols but not akt/1 fails the handshake (alert 120, no_application_protocol)."""
    return tls_refused_handshake(Tls(pin=FINGERPRINT, alpn=("http/1.1", "akt/2")), 120, "NO_APPLICATION_PROTOCOL")


@tls_only
def s_tls_no_alpn_served():
    """'one that offers no ALPN at all is served'."""
    c = connect(tls=Tls(pin=FINGERPRINT, alpn=None))
    check(c.tls_info.alpn is None, f"ALPN {c.tls_info.alpn!r} selected although none was offered")
    check(c.name in c.who(), "no WhoReply")
    return "welcomed without ALPN"


@tls_only
def s_tls_server_goodbye_then_close_notify():
    """'after its Goodbye a side sends TLS close_notify, then FIN': the server's Goodbye 7 after a violation."""
    c = connect()
    c.send_raw(b"\x00\x00\x00\x01\x7f")
    f = closing_frame(c)
    check(f and f.kind == "Goodbye" and f.code == 7, f"{f}")
    check(c.closed.endswith("(close_notify)"), f"after Goodbye: {c.closed}")
    return f"Goodbye 7, then {c.closed}"


@tls_only
def s_tls_cut_mid_upload_resumes():
    """A connection cut without close_notify (FIN only) is a lost connection: its transfer fails, the partial
    file is kept, and the same client resumes it at what the server acknowledged."""
    name = uname("cut")
    watcher = connect()
    a = connect(name)
    watcher.expect(lambda f: f.kind == "PeerJoined" and f.name == name)
    key = a.welcome.resume_key
    data = os.urandom(1 << 20)
    fp = attp.ticks_now()
    file = f"tlscut-{RUN}.bin"
    tid, acc = offer_and_start(a, data, file, fingerprint=fp)
    w = min(acc.window, len(data))                # the window may be larger than the file (8 MiB by default)
    for off in range(0, w // 2, 16384):
        a.send("Chunk", id=tid, offset=off, data=data[off:off + 16384])
    a.expect(lambda f: f.kind == "Ack" and f.written == w // 2)
    a.sock.shutdown(socket.SHUT_RDWR)             # FIN, and no close_notify: TLS never hears of it
    a.close()
    left = watcher.expect(lambda f: f.kind == "PeerLeft" and f.name == name, 10)
    # PeerLeft may come before the server has failed the transfer and kept its partial file: an Offer sent at once
    # can be accepted at offset 0 (the document does not say when a resume becomes possible). Like
    # resume_partial_upload, give it half a second.
    time.sleep(0.5)
    a2 = connect(name, resume_key=key)
    r = a2.send_file(data, file, to="server", fingerprint=fp)
    check(r.accept.offset > 0, f"no resume offered: {r.accept}")
    check(r.accept.offset >= w // 2, f"resumed at {r.accept.offset}, below the {w // 2} acknowledged")
    check(r.accept.prefix_sha256 == hashlib.sha256(data[:r.accept.offset]).digest(), "prefix hash differs")
    return f"PeerLeft {left.name} after the cut; resumed at {r.accept.offset} (acked {w // 2}); Verified"


@tls_only
def s_tls_too_many_connections_refused5_in_clear():
    """A server admits 64 connections per address; the next gets Refused 5 in the clear, without TLS, which the
    client reports like any Refused."""
    n = 0
    for n in range(1, 80):
        try:
            connect()
        except Refused as e:
            check(e.code == 5 and e.refused_in_clear, f"connection {n}: Refused {e.code} (in the clear: "
                                                       f"{e.refused_in_clear}) {e.frame.reason!r}")
            check(55 <= n <= 65, f"refused at connection {n}")
            return f"connection {n} of ours: Refused 5 in the clear ({e.frame.reason!r})"
    raise AssertionError(f"{n} connections from one address admitted")


@plain_only
def s_plain_server_refuses_tls_client16():
    """A server without TLS answers a ClientHello with Refused 16 in the clear; a TLS client reports it like any
    Refused (the first byte it got was not 0x16)."""
    try:
        c = Client.connect(HOST, PORT, uname(), tls=Tls(remember=False))
        _open.append(c)
    except Refused as e:
        check(e.code == 16 and e.refused_in_clear, f"Refused {e.code}, in the clear {e.refused_in_clear}")
        check("does not use TLS" in e.frame.reason, f"reason {e.frame.reason!r}")
        c = Client.open(HOST, PORT, tls=Tls(remember=False))     # the same without connect(): a frame, a close
        frames = c.wait_closed(1)
        check([(f.kind, f.code) for f in frames] == [("Refused", 16)] and c.refused_in_clear, f"{frames}")
        return f"Refused 16 in the clear: {e.frame.reason!r}"
    raise AssertionError("a TLS client was welcomed by a plaintext server")


def bg_idle():
    """Started first, collected last: a client that sends nothing gets Pings and then Goodbye 9 after ~30 s."""
    c = Client.connect(HOST, PORT, uname("idle"), tls=TLS)   # not in _open: it outlives the other scenarios
    c.keep_pings, c.ping_after = True, None
    t0, pings = time.monotonic(), []
    try:
        while True:
            f = c.recv(45)
            if f.kind == "Ping":
                pings.append(round(time.monotonic() - t0, 1))
            elif f.kind == "Goodbye":
                return pings, f, round(time.monotonic() - t0, 1)
    except (Closed, TimeoutError) as e:
        return pings, e, round(time.monotonic() - t0, 1)


def s_handshake_timeout_refused6():
    c = raw_open()
    t = time.monotonic()
    f = closing_frame(c, 10)
    secs = time.monotonic() - t
    check(f and f.kind == "Refused" and f.code == 6 and 4 <= secs <= 7, f"{f} after {secs:.1f}s")
    return f"{f.reason} after {secs:.1f}s"


def s_length0_before_hello_refused7():
    c = raw_open()
    c.send_raw(b"\x00\x00\x00\x00")
    t = time.monotonic()
    f = closing_frame(c, 10)
    secs = time.monotonic() - t
    check(f and f.kind == "Refused" and f.code == 7, f"{f} after {secs:.1f}s")
    return f"{f.reason} after {secs:.1f}s"


SCENARIOS = [v for k, v in list(globals().items()) if k.startswith("s_")]
SLOW_LAST = ["s_rate_limit_who", "s_rate_limit_500_says", "s_say_backlog_answers_in_order",
             "s_connect_after_rate_limit_disconnect"]


def main(argv, extra=()):
    global HOST, PORT, FINGERPRINT, TLS
    args = [a for a in argv[1:] if not a.startswith("--")]
    only = next((a.split("=", 1)[1].split(",") for a in argv if a.startswith("--only=")), None)
    HOST, PORT = args[0], int(args[1])
    if len(args) > 2 and "--insecure" in argv:
        raise SystemExit("give a FINGERPRINT or --insecure, not both")
    FINGERPRINT = attp.normalize_fingerprint(args[2]) if len(args) > 2 else None
    TLS = Tls(pin=FINGERPRINT) if FINGERPRINT else None
    attp.DEFAULT_TLS = TLS
    mode = "tls" if TLS else "plain"
    todo = [s for s in SCENARIOS if s.__name__ not in SLOW_LAST] + list(extra) + [globals()[n] for n in SLOW_LAST]
    if only:
        todo = [s for s in todo if s.__name__[2:] in only or s.__name__ in only]
    other = [s.__name__[2:] for s in todo if getattr(s, "mode", mode) != mode]
    todo = [s for s in todo if getattr(s, "mode", mode) == mode]
    print(json.dumps({"server": f"{HOST}:{PORT}", "tls": bool(TLS), "fingerprint": FINGERPRINT,
                      "not_applicable": other}), flush=True)
    idle = in_thread(bg_idle) if not only or "idle_timeout_goodbye9" in only else None
    passed = failed = 0

    def report(name, ok, detail):
        nonlocal passed, failed
        passed, failed = passed + ok, failed + (not ok)
        print(json.dumps({"scenario": name, "ok": ok, "detail": detail}, ensure_ascii=False), flush=True)

    for s in todo:
        name = s.__name__[2:]
        try:
            report(name, True, str(s()))
        except AssertionError as e:
            report(name, False, str(e))
        except Exception as e:
            report(name, False, f"{type(e).__name__}: {e} @ {traceback.extract_tb(e.__traceback__)[-1].lineno}")
        finally:
            while _open:
                c = _open.pop()
                if c.welcome and not c.closed:
                    c.goodbye(timeout=2)
                c.close()
    if idle:
        try:
            pings, end, secs = joined(idle, 60)
            ok = bool(pings) and isinstance(end, attp.Frame) and end.code == 9 and 28 <= secs <= 40
            report("idle_timeout_goodbye9", ok, f"server Pings at {pings} s; then {end} at {secs} s")
        except Exception as e:
            report("idle_timeout_goodbye9", False, repr(e))
    print(json.dumps({"summary": {"passed": passed, "failed": failed, "tls": bool(TLS),
                                  "not_applicable": len(other)}}), flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
