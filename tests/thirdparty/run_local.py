#!/usr/bin/env python3
"""Start the prebuilt server, run scenarios.py against it (plus checks that need the server's stdin, disk and
certificate), stop it.

    python3 run_local.py [DLL] [--tls | --insecure]

By default it runs twice: against a TLS server (the default; its key pinned from the fingerprint it prints), then
against a server started with --insecure. --tls or --insecure runs only that one. The server's port and fingerprint
are read from its first stdout line ({"event":"listening",...,"tls":true,"fingerprint":...}); it is stopped with
SIGTERM. Exit code 0 only if every scenario of every run passed and the server wrote no ERROR or Exception line to
its stderr (those lines are printed).
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attp  # noqa: E402
import scenarios as S  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
DLL = ARGS[0] if ARGS else os.path.join(ROOT, "src/AkkaTcpTransfer.Cli/bin/Debug/net10.0/akka-tcp-transfer.dll")
MODES = ["tls"] if "--tls" in sys.argv else ["plain"] if "--insecure" in sys.argv else ["tls", "plain"]
WORK = tempfile.mkdtemp(prefix="attp-run-")
STATE = os.path.join(WORK, "state")          # kept across runs: the server's identity lives there


class Server:
    def __init__(self, mode):
        self.mode = mode
        self.dl = os.path.join(WORK, mode, "downloads")
        self.err_path = os.path.join(WORK, mode, "server.err")
        os.makedirs(os.path.dirname(self.dl), exist_ok=True)
        self.events, self.proc, self.ev = [], None, None

    def start(self):
        """Returns the listening event, or None (and prints why)."""
        err = open(self.err_path, "a")
        cmd = ["dotnet", DLL, "server", "--port", "0", "--json", "--downloads", self.dl, "--state-dir", STATE]
        if self.mode == "plain":
            cmd.append("--insecure")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                                     encoding="utf-8", bufsize=1)
        first = self.proc.stdout.readline()
        try:
            ev = json.loads(first)
            assert ev["event"] == "listening" and ev.get("tls", False) == (self.mode == "tls")
            if self.mode == "tls":
                attp.normalize_fingerprint(ev["fingerprint"])
        except Exception:
            self.proc.kill()
            self.proc.wait()
            print(json.dumps({"error": f"server did not start: {first!r}", "stderr": open(self.err_path).read()}))
            return None
        self.ev = ev
        threading.Thread(target=lambda: self.events.extend(json.loads(line) for line in self.proc.stdout),
                         daemon=True).start()
        return ev

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "killed after 20 s"


def run(mode):
    srv = Server(mode)
    ev = srv.start()
    if ev is None:
        return 2
    events, DL = srv.events, srv.dl

    def s_server_sends_file():
        """The server's own sender (driven by `/send NAME PATH` on its stdin), received strictly."""
        b = S.connect(max_frame=20000)
        data = os.urandom(2_500_000)
        path = os.path.join(tempfile.mkdtemp(prefix="attp-src-"), f"from-server-{S.RUN}.bin")
        with open(path, "wb") as f:
            f.write(data)
        srv.proc.stdin.write(f"/send {b.name} {path}\n")
        srv.proc.stdin.flush()
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
        must = [f"up-{S.RUN}-1m.bin", f"resume-{S.RUN}.bin"] + ([f"tlscut-{S.RUN}.bin"] if mode == "tls" else [])
        S.check(all(m in landed for m in must), f"landed: {landed}")
        for n in landed:
            S.check(n in names or any(k.startswith(n + "/") for k in names), f"{n} on disk, no transfer-completed")
            p = os.path.join(DL, n)
            if os.path.isfile(p):
                S.check(hashlib.sha256(open(p, "rb").read()).hexdigest() == names[n]["sha256"], f"{n} sha differs")
        for bad in (f"bad-{S.RUN}-sha.bin", f"bad-{S.RUN}-ize.bin", f"win-{S.RUN}.bin", f"gap-{S.RUN}.bin"):
            S.check(bad not in landed, f"{bad} landed although it failed")
        return f"{len(landed)} entries of this run in {DL}, hashes match the server's events"

    @S.tls_only
    def s_tls_fingerprint_of_certificate_file():
        """The printed fingerprint is the document's: SHA-256 of the DER SubjectPublicKeyInfo of the certificate
        file (computed by our DER walker and, if openssl is installed, by the document's own command line)."""
        ours = attp.fingerprint_of_pem(ev["certificate"])
        S.check(ours == ev["fingerprint"], f"certificate file: {ours}, printed: {ev['fingerprint']}")
        c = S.connect()
        S.check(c.tls_info.fingerprint == ours, f"live key {c.tls_info.fingerprint}")
        detail = "DER walker on the certificate file and on the live certificate agree with the printed fingerprint"
        if shutil.which("openssl"):
            cmd = (f"openssl x509 -in '{ev['certificate']}' -pubkey -noout | openssl pkey -pubin -outform DER | "
                   "openssl dgst -sha256")
            out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=20).stdout
            S.check(out.strip().split()[-1] == ours, f"the document's openssl command says {out.strip()!r}")
            detail += "; so does the document's openssl command"
        return detail

    argv = ["scenarios.py", ev["host"], str(ev["port"])] + ([ev["fingerprint"]] if mode == "tls" else ["--insecure"])
    argv += [a for a in sys.argv[1:] if a.startswith("--only=")]
    rc = S.main(argv, extra=[s_server_sends_file, s_uploads_landed, s_tls_fingerprint_of_certificate_file])
    code = srv.stop()
    errors = [line.strip() for line in open(srv.err_path) if "ERROR" in line or "Exception" in line]
    print(json.dumps({"server": mode, "server_exit": code, "server_error_lines": errors,
                      "error_line_count": len(errors)}), flush=True)
    print(json.dumps({"scenario": f"server_{mode}_no_error_lines", "ok": not errors,
                      "detail": f"{len(errors)} ERROR/Exception lines on the server's stderr ({srv.err_path})"}),
          flush=True)
    if errors:                                      # a server that logged errors failed, whatever the scenarios saw
        rc = rc or 1
    if mode == "tls":                               # "Its key stays the same across restarts."
        again = Server(mode)
        ev2 = again.start()
        if ev2 is None:
            return 2
        again.stop()
        same = ev2["fingerprint"] == ev["fingerprint"]
        print(json.dumps({"scenario": "tls_key_same_after_restart", "ok": same,
                          "detail": f"{ev['fingerprint']} then {ev2['fingerprint']}"}), flush=True)
        rc = rc or (0 if same else 1)
    return rc


def main():
    if not os.path.exists(DLL):
        print(json.dumps({"error": f"{DLL} does not exist"}))
        return 2
    rcs = [run(mode) for mode in MODES]
    print(json.dumps({"runs": dict(zip(MODES, rcs))}))
    return max(rcs)


if __name__ == "__main__":
    sys.exit(main())
