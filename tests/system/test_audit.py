"""Audit and accountability end to end (docs/audit.md), on one 4-node devnet
with the simulated driver (state files, so the platform's actual state is a
file that can be changed behind BSec's back):

  - `audit verify` of every node's ledger file and over the node API;
  - tampered copies of a node's SQLite ledger (a tx byte, a header byte, a
    certificate signature byte, a deleted block, two swapped blocks): each
    reported with its height and reason;
  - inclusion proofs: a bundle from the API checks offline; every single
    byte changed is refused by `check-proof` (never a crash, never valid);
  - history of an object, a tenant and a domain; accountability with a
    failure-injected error response and an unanswered request while an
    orchestrator is stopped, on the CLI and the node API;
  - drift: a VNF removed from the sim platform's file is reported with the
    accountable domain and since when (the attestation that last matched,
    the first that did not); recording it on chain clears the report.
"""
import hashlib
import http.server
import json
import os
import re
import shutil
import sqlite3
import ssl
import subprocess
import struct
import tempfile
import threading
import time
import unittest
import urllib.request

from bsecutil import BSEC, run, run_json

DEMO = "tenants/demo.pem"


def read_json(path):
    with open(path) as f:
        return json.load(f)


def write_json(path, doc):
    """Atomically, as a platform would: readers never see half a file."""
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f)
    os.replace(path + ".tmp", path)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def bsec(*args, timeout=120):
    return subprocess.run([BSEC, *map(str, args)], capture_output=True, text=True, timeout=timeout)


class LyingNode:
    """An HTTPS server with node 0's certificate that forwards to node 0 but
    flips the last byte of block `height` (its last tx's signature) in every
    raw block page it serves: what a compromised node could try on an
    auditor.  Or else: status_pad pads its /v1/status with that many bytes;
    frames serves block 1 as its header and that many empty tx frames; tip
    announces that tip and serves no block above it (a valid prefix)."""

    def __init__(self, t, height=None, status_pad=0, frames=0, tip=None):
        target = t.genesis["providers"][0]["api"]
        cafile = t.path("ca.pem")

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                ctx = ssl.create_default_context(cafile=cafile)
                try:
                    with urllib.request.urlopen(target + self.path, context=ctx, timeout=30) as r:
                        status, data = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, data = e.code, e.read()
                if self.path.startswith("/v1/status") and status_pad:
                    o = json.loads(data)
                    o["padding"] = "x" * status_pad
                    data = json.dumps(o).encode()
                if self.path.startswith("/v1/blocks/raw") and data[:4] == b"BSRB":
                    out = [b"BSRB", data[4:12] if tip is None else struct.pack(">Q", tip)]
                    off = 12
                    while off < len(data):
                        h, blen = struct.unpack(">QI", data[off:off + 12])
                        block = bytearray(data[off + 12:off + 12 + blen])
                        (clen,) = struct.unpack(">I", data[off + 12 + blen:off + 16 + blen])
                        cert = data[off + 16 + blen:off + 16 + blen + clen]
                        off += 16 + blen + clen
                        if h == height:
                            block[-1] ^= 1
                        if h == 1 and frames:
                            # an Ed25519 block's header, then empty tx frames
                            block = block[:1 + 32 + 8 + 32 + 8 + 8 + 2 + 1 + 32 + 4 + 32 + 32 + 64] + b"\0" * 4 * frames
                        if tip is None or h <= tip:
                            out.append(struct.pack(">QI", h, len(block)) + bytes(block) + struct.pack(">I", clen) + cert)
                    data = b"".join(out)
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(t.path("tls", "p0.pem"), t.path("tls", "p0-key.pem"))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class AuditTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="bsec-audit-test-")
        cls.up = False
        try:
            run("devnet", "init", "--dir", cls.dir, "--nodes", 4, "--driver", "sim", "--view-timeout", 1000)
            # p2's platform has no capacity for VNFs: its error responses are signed failures
            p = cls.path("orch2", "config.json")
            cfg = read_json(p)
            cfg["driver"]["fail"] = {"vnf:create": "no capacity"}
            cfg["attest_interval_ms"] = 1000
            write_json(p, cfg)
            p = cls.path("orch1", "config.json")
            cfg = read_json(p)
            cfg["attest_interval_ms"] = 1000
            write_json(p, cfg)
            run("devnet", "up", "--dir", cls.dir, "--detach", timeout=90)
            cls.up = True
            cls.genesis = read_json(cls.path("genesis.json"))
            cls.ctx = ssl.create_default_context(cafile=cls.path("ca.pem"))
            cls.scenario()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.up:
            subprocess.run([BSEC, "devnet", "down", "--dir", cls.dir], capture_output=True, timeout=60)
            cls.up = False
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def path(cls, *p):
        return os.path.join(cls.dir, *p)

    @classmethod
    def api(cls, path, node=0, raw=False):
        url = cls.genesis["providers"][node]["api"] + path
        try:
            with urllib.request.urlopen(url, context=cls.ctx, timeout=30) as r:
                body = r.read()
                return r.status, body if raw else json.loads(body)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    @classmethod
    def request(cls, domain, instruction, *extra):
        p = bsec("request", "--dir", cls.dir, "--key", cls.path(DEMO), "--domain", domain, instruction,
                 "--json", *extra, timeout=90)
        return p.returncode, json.loads(p.stdout) if p.stdout.strip() else None, p.stderr

    @classmethod
    def scenario(cls):
        """What every test looks at: requests answered ok, one failed, one
        left unanswered by a stopped orchestrator."""
        rc, out, err = cls.request("p1", "vm create web1", "--wait-response")
        assert rc == 0, err
        rc, out, err = cls.request("p1", "vnf create fw1 --type firewall --vm web1", "--wait-response")
        assert rc == 0, err
        cls.fw1 = out["id"]
        rc, out, err = cls.request("p2", "vnf create lb1 --type forwarder", "--wait-response")
        assert rc == 1 and out, (rc, out, err)   # the signed error response
        cls.lb1 = out["id"]
        run("devnet", "stop", "--dir", cls.dir, "--node", 3, "--orchestrator", timeout=60)
        rc, out, err = cls.request("p3", "vm create orphan")
        assert rc == 0, err
        cls.orphan = out["id"]
        cls.orphan_height = out["height"]

    # -- verify ------------------------------------------------------------------
    def test_verify_every_node_file_and_api(self):
        counts = set()
        for i in range(4):
            r = run_json("audit", "verify", "--data-dir", self.path(f"node{i}"), "--json")
            self.assertTrue(r["ok"], r)
            self.assertGreaterEqual(r["responses"], 3)
            self.assertGreater(r["txs_per_s"], 0)
            counts.add(r["blocks"] >= 6)
        self.assertEqual(counts, {True})
        p = bsec("audit", "verify", "--dir", self.dir, "--node-index", 2)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verified from the genesis", p.stdout)
        api = self.genesis["providers"][1]["api"]
        r = run_json("audit", "verify", "--node", api, "--genesis", self.path("genesis.json"),
                     "--ca", self.path("ca.pem"), "--json")
        self.assertTrue(r["ok"], r)
        # the raw endpoint a remote auditor reads
        st, body = self.api("/v1/blocks/1/raw", raw=True)
        self.assertEqual(st, 200)
        self.assertEqual(body[:4], b"BSRB")
        # another consortium's genesis is refused before any block
        other = tempfile.mkdtemp(prefix="bsec-audit-other-")
        try:
            run("devnet", "init", "--dir", other, "--nodes", 1, "--driver", "sim")
            p = bsec("audit", "verify", "--data-dir", self.path("node0"), "--genesis",
                     os.path.join(other, "genesis.json"))
            self.assertEqual(p.returncode, 1)
            self.assertIn("the genesis founds", p.stdout)
        finally:
            shutil.rmtree(other, ignore_errors=True)

    def test_verify_refuses_a_lying_node(self):
        liar = LyingNode(self, 4)
        try:
            p = bsec("audit", "verify", "--node", liar.url, "--genesis", self.path("genesis.json"),
                     "--ca", self.path("ca.pem"), "--json")
        finally:
            liar.close()
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        r = json.loads(p.stdout)
        self.assertFalse(r["ok"])
        self.assertEqual(r["bad_height"], 4)
        self.assertEqual(r["blocks"], 3)
        self.assertRegex(r["reason"], r"^block 4 tx [0-9]+: signature does not verify")

    def test_remote_auditor_against_hostile_nodes(self):
        """Found in review: a node could make `audit verify --node` parse
        gigabytes of JSON from its status, and allocate a row per 4-byte
        frame of a block (1.1 GB for 64 MiB); and one that served a valid
        prefix of the chain made `audit drift` blame the domain's provider
        for objects BSec itself created."""
        common = ["--genesis", self.path("genesis.json"), "--ca", self.path("ca.pem")]
        liar = LyingNode(self, status_pad=2 << 20)
        try:
            p = bsec("audit", "verify", "--node", liar.url, *common)
        finally:
            liar.close()
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("larger than 1048576", p.stdout + p.stderr)
        liar = LyingNode(self, frames=500000)
        try:
            p = bsec("audit", "verify", "--node", liar.url, *common, "--json")
        finally:
            liar.close()
        self.assertEqual(p.returncode, 1, p.stderr)
        m = re.search(r"holds ([0-9]+) txs, the header lists ([0-9]+)", json.loads(p.stdout)["reason"])
        self.assertIsNotNone(m, p.stdout)
        self.assertEqual(int(m.group(1)), int(m.group(2)) + 1, "one row per frame past the header's count")
        # drift: fw1's request withheld
        st, fw1 = self.api(f"/v1/transactions/{self.fw1}")
        self.assertEqual(st, 200)
        liar = LyingNode(self, tip=fw1["height"] - 1)
        try:
            p = bsec("audit", "drift", "--domain", "p1", "--dir", self.dir, "--node", liar.url,
                     "--ca", self.path("ca.pem"))
        finally:
            liar.close()
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("audit against an up-to-date node", p.stderr)
        self.assertNotIn("accountable", p.stdout)

    def test_report_text_cannot_be_forged_by_a_response(self):
        """A response's error text may hold newlines (the chain allows them):
        printed raw, p3's could add a "failure:" line blaming p1."""
        forged = "quota\nfailure: request 0000 `vm create x' answered with an error by domain p1 (provider p1)"
        # p3's orchestrator is stopped: a request of p3 answered by hand, with p3's key
        rc, out, err = self.request("p3", "vm create forged1")
        self.assertEqual(rc, 0, err)
        resp = self.path("forged.tx")
        run("tx", "response", "--key", self.path("keys", "p3-orch.pem"), "--genesis", self.path("genesis.json"),
            "--request-id", out["id"], "--status", "error", "--error", forged, "--out", resp)
        run("tx", "submit", resp, "--dir", self.dir)
        for args in (["accountability", "--deadline-ms", "600000"], ["history", "--domain", "p3"]):
            p = bsec("audit", *args, "--dir", self.dir)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("quota\\nfailure: request 0000", p.stdout, args)
            self.assertEqual([l for l in p.stdout.splitlines() if l.startswith("failure: request 0000")], [], args)

    def tampered(self, name, sql_fn):
        """A consistent copy of node 0's ledger, changed by sql_fn(db)."""
        d = self.path(f"tamper-{name}")
        os.makedirs(d, exist_ok=True)
        shutil.copy(self.path("node0", "genesis.json"), d)
        src = sqlite3.connect(f"file:{self.path('node0', 'ledger.db')}?mode=ro", uri=True, timeout=10)
        dst = sqlite3.connect(os.path.join(d, "ledger.db"))
        src.backup(dst)
        src.close()
        sql_fn(dst)
        dst.commit()
        dst.close()
        return d

    @staticmethod
    def flip(db, table, col, where, at):
        (blob,) = db.execute(f"SELECT {col} FROM {table} WHERE {where}").fetchone()
        b = bytearray(blob)
        b[at] ^= 1
        db.execute(f"UPDATE {table} SET {col} = ? WHERE {where}", (bytes(b),))

    def test_raw_long_poll(self):
        """GET /v1/blocks/raw?from=H&wait=MS (what the orchestrators and
        the portal follow): parked until block H commits, then a page that
        starts at H; an empty page when the wait ends first."""
        def page(body):
            self.assertEqual(body[:4], b"BSRB")
            tip = struct.unpack(">Q", body[4:12])[0]
            first = struct.unpack(">Q", body[12:20])[0] if len(body) >= 20 else None
            return tip, first
        st, o = self.api("/v1/status", node=1)
        h = o["height"]
        # nothing asked for: the wait ends with an empty page (unless a
        # block came by itself, e.g. an attestation: then it starts at h+1)
        t0 = time.monotonic()
        st, body = self.api(f"/v1/blocks/raw?from={h + 1}&wait=1500", node=1, raw=True)
        took = time.monotonic() - t0
        self.assertEqual(st, 200)
        tip, first = page(body)
        if first is None:
            self.assertGreaterEqual(took, 1.4)
            self.assertEqual(len(body), 12)
        else:
            self.assertEqual(first, h + 1)
        # a request committed while the poll waits answers it
        st, o = self.api("/v1/status", node=1)
        h = o["height"]
        got = {}

        def poll():
            t = time.monotonic()
            got["r"] = self.api(f"/v1/blocks/raw?from={h + 1}&wait=30000", node=1, raw=True)
            got["took"] = time.monotonic() - t
        th = threading.Thread(target=poll)
        th.start()
        time.sleep(0.3)   # parked (or answered by a block that came by itself: same check)
        rc, out, err = self.request("p1", "vm create rawpoll", "--wait-response")
        self.assertEqual(rc, 0, err)
        th.join(timeout=35)
        self.assertFalse(th.is_alive())
        st, body = got["r"]
        self.assertEqual(st, 200)
        tip, first = page(body)
        self.assertEqual(first, h + 1)
        self.assertLess(got["took"], 25)
        # leave the platform as the other tests expect it
        rc, out, err = self.request("p1", "vm delete rawpoll", "--wait-response")
        self.assertEqual(rc, 0, err)
        # the wait is bounded like the JSON form's
        st, o = self.api(f"/v1/blocks/raw?from={h + 1}&wait=99999999", node=1)
        self.assertEqual(st, 400)
        self.assertIn("wait", o["message"])

    def test_tampered_ledger_files(self):
        swap = ("UPDATE blocks SET height = -height WHERE height IN (3, 4);"
                "UPDATE blocks SET height = 7 + height WHERE height < 0;"
                "UPDATE txs SET seq = -seq WHERE seq >> 20 IN (3, 4);"
                "UPDATE txs SET seq = ((7 - ((-seq) >> 20)) << 20) | ((-seq) & 1048575) WHERE seq < 0;")
        cases = [
            ("tx-byte", lambda db: self.flip(db, "txs", "raw", "seq = 3 << 20", 20), 3,
             "tx_root does not match its txs (tx 0 is not the tx that was committed)"),
            ("tx-signature", lambda db: self.flip(db, "txs", "raw", "seq = 4 << 20", -1), 4,
             "block 4 tx 0: signature does not verify"),
            ("header-byte", lambda db: self.flip(db, "blocks", "header", "height = 2", 80), 2,
             "block 2: proposer signature does not verify"),
            ("cert-signature", lambda db: self.flip(db, "blocks", "cert", "height = 5", -5), 5,
             "block 5: certificate signature of node"),
            ("deleted-block", lambda db: db.execute("DELETE FROM blocks WHERE height = 3"), 3,
             "block 3: missing (the ledger goes from block 2 to block 4)"),
            # a short stored header takes its height from its row: block 4's,
            # filed as block 3, does not link to block 2
            ("swapped-blocks", lambda db: db.executescript(swap), 3,
             "block 3: prev_hash does not match block 2's hash"),
        ]
        for name, fn, height, reason in cases:
            with self.subTest(name):
                d = self.tampered(name, fn)
                p = bsec("audit", "verify", "--data-dir", d)
                self.assertEqual(p.returncode, 1, p.stdout)
                self.assertIn(f"first bad block: {height}", p.stdout)
                self.assertIn(reason, p.stdout)
                r = json.loads(bsec("audit", "verify", "--data-dir", d, "--json").stdout)
                self.assertFalse(r["ok"])
                self.assertEqual(r["bad_height"], height)
                self.assertEqual(r["blocks"], height - 1)

    # -- proofs --------------------------------------------------------------------
    def test_proof_bundle_offline_and_every_byte_changed(self):
        f = self.path("fw1.proof")
        r = run_json("audit", "proof", self.fw1, "--dir", self.dir, "--out", f, "--json")
        self.assertEqual(r["tx_id"], self.fw1)
        data = read_bytes(f)
        # the API serves the same bundle (node 0 both times), in JSON and binary
        st, j = self.api(f"/v1/proofs/{self.fw1}")
        self.assertEqual(st, 200)
        self.assertEqual(bytes.fromhex(j["bundle_hex"]), data)
        st, b = self.api(f"/v1/proofs/{self.fw1}?format=bin", raw=True)
        self.assertEqual(b, data)
        g = self.path("genesis.json")
        p = bsec("audit", "check-proof", f, "--genesis", g)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("valid: tx " + self.fw1, p.stdout)
        bad = self.path("bad.proof")
        for i in range(len(data)):
            x = bytearray(data)
            x[i] ^= 0x01 if i % 2 else 0x80
            write_bytes(bad, x)
            p = bsec("audit", "check-proof", bad, "--genesis", g)
            self.assertEqual(p.returncode, 1, f"byte {i}: {p.stdout}{p.stderr}")
            self.assertIn("INVALID: ", p.stdout, f"byte {i}")
        write_bytes(bad, data[:-1])
        self.assertEqual(bsec("audit", "check-proof", bad, "--genesis", g).returncode, 1)

    # -- history and accountability --------------------------------------------------
    def test_history(self):
        h = run_json("audit", "history", "--object", "vnf/fw1", "--dir", self.dir, "--json")
        self.assertEqual(h["count"], 1)
        e = h["entries"][0]
        self.assertEqual(e["request_id"], self.fw1)
        self.assertEqual(e["tenant"]["name"], "demo")
        self.assertEqual(e["domain"], "p1")
        self.assertEqual(e["state"], "ok")
        self.assertEqual(e["response"]["orchestrator"], "p1")
        self.assertGreaterEqual(e["duration_ms"], 0)
        # the same from a node's ledger file
        h2 = run_json("audit", "history", "--object", "vnf/fw1", "--data-dir", self.path("node2"), "--json")
        self.assertEqual(h2["entries"][0]["response"]["id"], e["response"]["id"])
        t = run_json("audit", "history", "--tenant", self.path(DEMO), "--dir", self.dir, "--json")
        self.assertEqual([x["request_id"] for x in t["entries"]][-1], self.orphan)
        self.assertEqual(t["count"], 4)
        # pages of one, through a node and from a ledger file: each page names
        # where the next request is, and together they are the whole list
        for src in (["--dir", self.dir], ["--data-dir", self.path("node2")]):
            got, frm = [], None
            for _ in range(6):
                args = ["audit", "history", "--tenant", self.path(DEMO), *src, "--limit", 1, "--json"]
                page = run_json(*args, *(["--from", frm] if frm else []))
                self.assertLessEqual(page["count"], 1)
                got += [x["request_id"] for x in page["entries"]]
                if page["next_from"] is None:
                    self.assertIsNone(page["next_index"])
                    break
                frm = f"{page['next_from']}.{page['next_index']}"
            self.assertEqual(got, [x["request_id"] for x in t["entries"]], src)
        p = bsec("audit", "history", "--tenant", self.path(DEMO), "--dir", self.dir, "--from", "0.2")
        self.assertEqual(p.returncode, 2)
        self.assertIn("heights start at 1", p.stderr)
        d = run_json("audit", "history", "--domain", "p3", "--dir", self.dir, "--json")
        self.assertEqual(d["entries"][0]["state"], "pending")
        d = run_json("audit", "history", "--domain", "p2", "--dir", self.dir, "--json")
        self.assertEqual(d["entries"][0]["response"]["error"], "simulated: no capacity")
        p = bsec("audit", "history", "--object", "vm/web1", "--dir", self.dir)
        self.assertEqual(p.returncode, 0)
        self.assertIn("ok by orchestrator p1", p.stdout)

    def test_accountability(self):
        time.sleep(2.5)
        r = run_json("audit", "accountability", "--dir", self.dir, "--deadline-ms", 2000, "--json")
        doms = {x["domain"]: x for x in r["domains"]}
        self.assertEqual((doms["p1"]["requests"], doms["p1"]["ok"], doms["p1"]["failed"]), (2, 2, 0))
        self.assertEqual((doms["p2"]["requests"], doms["p2"]["failed"]), (1, 1))
        self.assertEqual(doms["p2"]["failures"][0]["error"], "simulated: no capacity")
        self.assertEqual(doms["p3"]["unanswered"], 1)
        gap = doms["p3"]["gaps"][0]
        self.assertEqual(gap["request_id"], self.orphan)
        self.assertEqual(gap["responsible"], "p3")
        self.assertIsNotNone(doms["p1"]["p50_ms"])
        self.assertIsNotNone(doms["p1"]["last_attestation"])
        # the node API says the same (the portal's source)
        st, api = self.api("/v1/accountability?deadline_ms=2000", node=1)
        self.assertEqual(st, 200)
        a = {x["domain"]: x for x in api["domains"]}
        self.assertEqual(a["p3"]["gaps"][0]["request_id"], self.orphan)
        # one scan per interval whatever the parameters: the same ones get
        # the cached report, others wait (changing them buys no scan)
        t0 = time.time()
        st, again = self.api("/v1/accountability?deadline_ms=2000", node=1)
        self.assertEqual((st, again["now_ms"]), (200, api["now_ms"]))
        st, e = self.api("/v1/accountability?deadline_ms=2001", node=1)
        if time.time() - t0 < 1.5:
            self.assertEqual((st, e["error"]), (429, "busy"))
        time.sleep(2.1)
        st, other = self.api("/v1/accountability?deadline_ms=2001", node=1)
        self.assertEqual((st, other["deadline_ms"]), (200, 2001))
        p = bsec("audit", "accountability", "--data-dir", self.path("node3"), "--deadline-ms", 2000)
        self.assertEqual(p.returncode, 0)
        self.assertIn("responsible: domain p3, provider p3", p.stdout)
        st, h = self.api("/v1/history?domain=p3")
        self.assertEqual(st, 200)
        self.assertEqual(h["entries"][0]["state"], "pending")
        st, e = self.api("/v1/history?domain=p3&object=vm/x")
        self.assertEqual(st, 400)
        # a limit of 0 is not "no limit" (the whole chain in one reply)
        for path in ("/v1/history?domain=p3&limit=0", "/v1/attestations?domain=p1&limit=0"):
            st, e = self.api(path)
            self.assertEqual((st, e["error"]), (400, "bad_query"), path)
            self.assertIn("limit 1..", e["message"].replace("limit must be", "limit"))
        st, e = self.api("/v1/attestations?domain=p1&limit=1")
        self.assertEqual(st, 200)
        # a height that strtoull would read after blanks or a sign
        for bad in ("%20-1", "%201", "+1"):
            st, e = self.api("/v1/blocks/" + bad)
            self.assertEqual((st, e["error"]), (400, "bad_height"), bad)
        # a page of blocks with their txs stops at its byte budget, not
        # past it, and always holds at least one block
        st, page = self.api("/v1/blocks?from=1&limit=100&txs=1")
        self.assertEqual(st, 200)
        self.assertGreaterEqual(len(page["blocks"]), 1)
        self.assertEqual([b["height"] for b in page["blocks"]],
                         list(range(1, len(page["blocks"]) + 1)))

    # -- drift ------------------------------------------------------------------------
    def sim_file(self, i):
        d = self.path(f"orch{i}")
        return os.path.join(d, [f for f in os.listdir(d) if f.startswith("sim-")][0])

    def drift(self):
        p = bsec("audit", "drift", "--domain", "p1", "--dir", self.dir, "--json")
        self.assertIn(p.returncode, (0, 1), p.stderr)
        return p.returncode, json.loads(p.stdout)

    def test_zz_drift_detected_dated_and_cleared(self):
        rc, r = self.drift()
        self.assertEqual(rc, 0, r)
        self.assertFalse(r["drift"])
        self.assertIsNotNone(r["last_match"])
        # fw1's VNF disappears from the platform behind BSec's back
        f = self.sim_file(1)
        doc = read_json(f)
        doc["objects"] = [o for o in doc["objects"] if o["name"] != "fw1"]
        write_json(f, doc)
        changed_ms = int(time.time() * 1000)
        rc, r = self.drift()
        self.assertEqual(rc, 1)
        self.assertTrue(r["drift"])
        self.assertEqual(r["domain"], "p1")
        self.assertEqual(r["provider"], "p1")
        self.assertEqual([(x["what"], x["kind"], x["name"]) for x in r["findings"]], [("missing", "vnf", "fw1")])
        self.assertLessEqual(r["since_ms"], changed_ms)
        # the orchestrator's next attestation records it: the window closes
        deadline = time.time() + 20
        while time.time() < deadline and not r.get("first_mismatch"):
            time.sleep(0.5)
            rc, r = self.drift()
        self.assertIsNotNone(r["first_mismatch"], r)
        self.assertGreaterEqual(r["first_mismatch"]["block_ts"], changed_ms - 50)
        self.assertLessEqual(r["last_match"]["block_ts"], changed_ms)
        self.assertEqual(r["first_mismatch"]["objects"], 1)
        p = bsec("audit", "drift", "--domain", "p1", "--dir", self.dir)
        self.assertIn("missing    vnf fw1", p.stdout)
        self.assertIn("accountable: domain p1 (provider p1)", p.stdout)
        # the tenant records it through BSec: the ledger no longer expects fw1
        rc, out, err = self.request("p1", "vnf delete fw1", "--wait-response")
        self.assertEqual(rc, 0, err)
        rc, r = self.drift()
        self.assertEqual(rc, 0, r)
        self.assertEqual(r["findings"], [])


def netns_usable():
    return os.geteuid() == 0 and shutil.which("ip") and shutil.which("nft")


@unittest.skipUnless(netns_usable(), "needs root with ip and nft (the netns driver)")
class NetnsDriftTest(unittest.TestCase):
    """The brief's own example on a real data plane: a VNF's namespace deleted
    by hand is reported by `audit drift`; recording the delete clears it."""

    def test_deleted_namespace(self):
        d = tempfile.mkdtemp(prefix="bsec-audit-netns-")
        try:
            run("devnet", "init", "--dir", d, "--nodes", 1, "--driver", "netns")
            p = os.path.join(d, "orch0", "config.json")
            cfg = read_json(p)
            cfg["attest_interval_ms"] = 1000
            write_json(p, cfg)
            run("devnet", "up", "--dir", d, "--detach", timeout=90)
            key = os.path.join(d, DEMO)
            for ins in ("vm create h1", "vnf create fw9 --type firewall --vm h1"):
                run("request", "--dir", d, "--key", key, "--domain", "p0", ins, "--wait-response", timeout=90)
            with open(os.path.join(d, "genesis.json"), "rb") as f:
                prefix = hashlib.sha256(f.read()).hexdigest()[:8]
            ns = f"bsec-{prefix}-vnf-fw9"
            self.assertIn(ns, subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout)
            time.sleep(2)
            p = bsec("audit", "drift", "--domain", "p0", "--dir", d, "--json")
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            subprocess.run(["ip", "netns", "del", ns], check=True)
            deadline = time.time() + 20
            while True:
                p = bsec("audit", "drift", "--domain", "p0", "--dir", d, "--json")
                r = json.loads(p.stdout)
                if r.get("first_mismatch") or time.time() > deadline:
                    break
                time.sleep(0.5)
            self.assertEqual(p.returncode, 1)
            self.assertIn(("missing", "fw9"), [(x["what"], x["name"]) for x in r["findings"]])
            self.assertEqual(r["provider"], "p0")
            self.assertIsNotNone(r["last_match"])
            self.assertIsNotNone(r["first_mismatch"])
            self.assertLessEqual(r["last_match"]["block_ts"], r["first_mismatch"]["block_ts"])
            run("request", "--dir", d, "--key", key, "--domain", "p0", "vnf delete fw9", "--wait-response",
                timeout=90)
            p = bsec("audit", "drift", "--domain", "p0", "--dir", d, "--json")
            self.assertEqual(p.returncode, 0, p.stdout)
        finally:
            subprocess.run([BSEC, "devnet", "down", "--dir", d], capture_output=True, timeout=60)
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
