#!/usr/bin/env python3
"""Start the prebuilt server, run scenarios.py against it (plus checks that need the server's stdin and disk), stop it.

    python3 run_local.py [DLL]

The server's port is read from its first stdout line ({"event":"listening",...}); it is stopped with SIGTERM.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenarios as S  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DLL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "src/AkkaTcpTransfer.Cli/bin/Debug/net10.0/akka-tcp-transfer.dll")
WORK = tempfile.mkdtemp(prefix="attp-run-")
DL, STATE, ERR = os.path.join(WORK, "downloads"), os.path.join(WORK, "state"), os.path.join(WORK, "server.err")


def main():
    if not os.path.exists(DLL):
        print(json.dumps({"error": f"{DLL} does not exist"}))
        return 2
    shutil.rmtree(DL, ignore_errors=True)
    shutil.rmtree(STATE, ignore_errors=True)
    err = open(ERR, "w")
    srv = subprocess.Popen(["dotnet", DLL, "server", "--port", "0", "--json", "--downloads", DL,
                            "--set", f"state-dir={STATE}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=err, text=True, encoding="utf-8", bufsize=1)
    first = srv.stdout.readline()
    try:
        ev = json.loads(first)
        assert ev["event"] == "listening"
    except Exception:
        srv.kill()
        print(json.dumps({"error": f"server did not start: {first!r}", "stderr": open(ERR).read()}))
        return 2
    events = []
    import threading
    threading.Thread(target=lambda: events.extend(json.loads(line) for line in srv.stdout), daemon=True).start()

    def s_server_sends_file():
        """The server's own sender (driven by `/send NAME PATH` on its stdin), received strictly."""
        b = S.connect(max_frame=20000)
        data = os.urandom(2_500_000)
        path = os.path.join(tempfile.mkdtemp(prefix="attp-src-"), f"from-server-{S.RUN}.bin")
        with open(path, "wb") as f:
            f.write(data)
        srv.stdin.write(f"/send {b.name} {path}\n")
        srv.stdin.flush()
        got = b.receive_file(os.path.join(S.TMP, "from-server"), max_chunk=20000 - 13, window=256 * 1024)
        S.check(open(got.path, "rb").read() == data, "content differs")
        S.check(got.offer.from_ == b.server_name, f"Offer.from {got.offer.from_!r}")
        S.check(len(got.offer.sender_id) == 16, f"sender_id {len(got.offer.sender_id)} bytes")
        S.check(got.largest_chunk <= 19987, f"chunk {got.largest_chunk}")
        time.sleep(0.5)
        done = [e for e in events if e.get("event") == "transfer-completed" and e.get("id") == f"{got.id:08x}"]
        S.check(done, "server published no transfer-completed")
        return f"{len(data)} bytes Verified, largest chunk {got.largest_chunk}, Offer.to {got.offer.to!r}"

    def s_uploads_landed():
        """Verified uploads are on the server's disk under their names; refused or failed ones are not."""
        names = {e["file"]: e for e in events if e.get("event") == "transfer-completed"}
        landed = sorted(n for n in os.listdir(DL) if str(S.RUN) in n)
        S.check(f"up-{S.RUN}-1m.bin" in landed and f"resume-{S.RUN}.bin" in landed, f"landed: {landed}")
        for n in landed:
            S.check(n in names or any(k.startswith(n + "/") for k in names), f"{n} on disk, no transfer-completed")
            p = os.path.join(DL, n)
            if os.path.isfile(p):
                S.check(hashlib.sha256(open(p, "rb").read()).hexdigest() == names[n]["sha256"], f"{n} sha differs")
        for bad in (f"bad-{S.RUN}-sha.bin", f"bad-{S.RUN}-ize.bin", f"win-{S.RUN}.bin", f"gap-{S.RUN}.bin"):
            S.check(bad not in landed, f"{bad} landed although it failed")
        return f"{len(landed)} entries of this run in {DL}, hashes match the server's events"

    rc = S.main(["scenarios.py", ev["host"], str(ev["port"])], extra=[s_server_sends_file, s_uploads_landed])
    srv.send_signal(signal.SIGTERM)
    try:
        code = srv.wait(20)
    except subprocess.TimeoutExpired:
        srv.kill()
        code = "killed after 20 s"
    errors = [line.strip() for line in open(ERR) if "ERROR" in line or "Exception" in line]
    print(json.dumps({"server_exit": code, "server_error_lines": errors[:10], "error_line_count": len(errors)}))
    return rc


if __name__ == "__main__":
    sys.exit(main())
