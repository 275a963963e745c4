"""Orchestration end to end: tenants, requests, the orchestrators of a
devnet answering them on chain, admission refusals, driver failures, and
exactly-once execution across an orchestrator crash (kill -9) and a lost
journal.  Each test runs its own devnet with the simulated driver in a
temporary directory and always tears it down."""
import hashlib
import http.server
import json
import os
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

from bsecutil import BSEC, run, run_json

DEMO = "tenants/demo.pem"


def load_json(path):
    with open(path) as f:
        return json.load(f)


def read_text(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def pem_norm(pem):
    return "".join(pem.split())


class Devnet:
    """A devnet in a temp dir: init --driver sim, optional changes to the
    orchestrators' driver configs, up --detach; close() brings it down."""

    def __init__(self, nodes=4, driver=None, env=None):
        self.dir = tempfile.mkdtemp(prefix="bsec-orch-test-")
        self.up = False
        try:
            run("devnet", "init", "--dir", self.dir, "--nodes", nodes, "--driver", "sim",
                "--view-timeout", 1000)
            self.genesis = load_json(self.path("genesis.json"))
            for i in range(nodes):
                cfg = self.orch_config(i)
                if driver and i in driver:
                    cfg["driver"].update(driver[i])
                    self.write_orch_config(i, cfg)
            run("devnet", "up", "--dir", self.dir, "--detach", timeout=90, env=env)
            self.up = True
            self.ctx = ssl.create_default_context(cafile=self.path("ca.pem"))
        except BaseException:
            self.close()
            raise

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def orch_config(self, i):
        return load_json(self.path(f"orch{i}", "config.json"))

    def write_orch_config(self, i, cfg):
        with open(self.path(f"orch{i}", "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)

    def dump_logs(self):
        """Warnings and errors of every node and orchestrator, on stderr:
        the check script shows them only when a test failed."""
        for sub in sorted(os.listdir(self.dir)) if os.path.isdir(self.dir) else []:
            for name in ("node.log", "orch.log"):
                p = self.path(sub, name)
                if not os.path.exists(p):
                    continue
                with open(p, errors="replace") as f:
                    lines = [ln for ln in f if "level=warn" in ln or "level=error" in ln]
                for ln in lines[-15:]:
                    print(f"  [{sub}/{name}] {ln.rstrip()}", file=sys.stderr)

    def close(self):
        self.dump_logs()
        if self.up:
            subprocess.run([BSEC, "devnet", "down", "--dir", self.dir], capture_output=True, timeout=60)
            self.up = False
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- node API ------------------------------------------------------------
    def api(self, path, node=0, timeout=15):
        url = self.genesis["providers"][node]["api"] + path
        try:
            with urllib.request.urlopen(url, context=self.ctx, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def tx(self, txid, node=0):
        st, body = self.api(f"/v1/transactions/{txid}", node)
        return body if st == 200 else None

    def wait_response(self, req_id, timeout=30, node=0):
        """The committed response tx JSON for request req_id."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            t = self.tx(req_id, node)
            if t and t.get("response_id"):
                r = self.tx(t["response_id"], node)
                if r and r.get("status") == "committed":
                    return r
            time.sleep(0.1)
        raise AssertionError(f"no response to {req_id} within {timeout} s")

    def height(self, node):
        st, body = self.api("/v1/status", node)
        return body["height"]

    def chain(self, node):
        """Every tx of node's chain, in order (tx JSON + height)."""
        out, h = [], 1
        while True:
            st, body = self.api(f"/v1/blocks?from={h}&limit=100&txs=1", node)
            if not body["blocks"]:
                return out
            for b in body["blocks"]:
                for t in b["txs"]:
                    t["height"] = b["height"]
                    out.append(t)
                h = b["height"] + 1

    def wait_heights_equal(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            hs = [self.height(i) for i in range(len(self.genesis["providers"]))]
            if len(set(hs)) == 1:
                return hs[0]
            time.sleep(0.2)
        raise AssertionError(f"nodes did not converge: heights {hs}")

    # -- orchestrators -------------------------------------------------------
    def journal(self, i):
        """Rows of orchestrator i's journal (read-only)."""
        db = sqlite3.connect(f"file:{self.path(f'orch{i}', 'journal.db')}?mode=ro", uri=True, timeout=5)
        try:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute("SELECT * FROM entries ORDER BY height, idx")]
        finally:
            db.close()

    def journal_entry(self, i, req_id):
        for r in self.journal(i):
            if r["request_id"].hex() == req_id:
                return r
        return None

    def sim_objects(self, i):
        d = self.path(f"orch{i}")
        files = [f for f in os.listdir(d) if f.startswith("sim-") and f.endswith(".json")]
        if not files:
            return []
        return load_json(os.path.join(d, files[0]))["objects"]

    def sim_state_file(self, i):
        """The sim driver's state: DIR/orchI/sim-PREFIX.json, PREFIX the
        first 8 hex digits of the chain id."""
        chain_id = hashlib.sha256(read_text(self.path("genesis.json"), "rb")).hexdigest()
        return self.path(f"orch{i}", f"sim-{chain_id[:8]}.json")

    # -- CLI -----------------------------------------------------------------
    def request(self, key, domain, instruction, *extra, check=True):
        return run("request", "--dir", self.dir, "--key", self.path(key) if not os.path.isabs(key) else key,
                   "--domain", domain, instruction, *extra, check=check, timeout=90)

    def request_json(self, key, domain, instruction, *extra):
        p = self.request(key, domain, instruction, "--json", *extra, check=False)
        return p.returncode, json.loads(p.stdout) if p.stdout.strip() else None, p.stderr

    def tenant(self, action, domain, key, *extra, check=True):
        return run("tenant", action, "--dir", self.dir, "--admin-key", self.path("keys", f"{domain}-admin.pem"),
                   "--domain", domain, "--tenant-key", key, *extra, check=check, timeout=60)

    def new_key(self, name):
        p = self.path("tenants", f"{name}.pem")
        run("keygen", "--scheme", "ed25519", "--out", p)
        return p


class LyingProxy:
    """An HTTPS server with a real node's certificate that forwards to that
    node, but rewrites one instruction inside every block it serves (the
    tx bytes, not just the JSON view): what a compromised node could try."""

    def __init__(self, devnet, node, find, replace, drop_posts=False, fake_commits=False, response_id=None):
        """drop_posts: every POST is answered 202 and forwarded nowhere (a node
        that takes txs and drops them).  fake_commits: besides, every tx it is
        asked about is "committed" at height 424242 (with no proof to show).
        response_id: a committed request is shown as answered by that tx."""
        self.target = devnet.genesis["providers"][node]["api"]
        self.dropped = 0
        self.cafile = devnet.path("ca.pem")
        find_hex, repl_hex = find.encode().hex(), replace.encode().hex()
        assert len(find_hex) == len(repl_hex)
        find_b, repl_b = find.encode(), replace.encode()
        proxy = self
        self.tampered = 0
        self.lies = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def forward(self, body=None):
                ctx = ssl.create_default_context(cafile=proxy.cafile)
                req = urllib.request.Request(proxy.target + self.path, data=body, method=self.command)
                if body is not None:
                    req.add_header("Content-Type", "application/octet-stream")
                try:
                    with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
                        return r.status, r.read()
                except urllib.error.HTTPError as e:
                    return e.code, e.read()

            def reply(self, status, data):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if fake_commits and self.path.startswith("/v1/transactions/"):
                    proxy.lies += 1
                    txid = self.path.split("/")[3].split("?")[0]
                    self.reply(200, json.dumps({"id": txid, "status": "committed", "height": 424242,
                                                "index": 0}).encode())
                    return
                status, data = self.forward()
                if response_id and self.path.startswith("/v1/transactions/") and status == 200:
                    o = json.loads(data)
                    if o.get("status") == "committed" and o.get("tx", {}).get("type") == "request":
                        o["response_id"] = response_id
                        data = json.dumps(o).encode()
                        proxy.lies += 1
                if self.path.startswith("/v1/blocks/raw") and find_b in data:
                    data = data.replace(find_b, repl_b)   # the raw page followers read
                    proxy.tampered += 1
                elif self.path.startswith("/v1/blocks") and find_hex in data.decode(errors="replace"):
                    data = data.decode().replace(find_hex, repl_hex).encode()
                    proxy.tampered += 1
                self.reply(status, data)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                if drop_posts or fake_commits:
                    proxy.dropped += 1
                    self.reply(202, b'{"status":"pending"}')
                    return
                self.reply(*self.forward(body))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        name = devnet.genesis["providers"][node]["name"]
        ctx.load_cert_chain(devnet.path("tls", f"{name}.pem"), devnet.path("tls", f"{name}-key.pem"))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class OrchestrationTest(unittest.TestCase):
    def devnet(self, **kw):
        d = Devnet(**kw)
        self.addCleanup(d.close)
        return d

    def test_request_answered_by_its_domain_once_on_every_node(self):
        d = self.devnet(nodes=4)
        reqs = {}
        for i, (dom, ins) in enumerate([("p1", "vm create web1"), ("p2", "vm create db1"),
                                        ("p1", "vnf create fw1 --type firewall --vm web1"),
                                        ("p3", "vm create cache1")]):
            rc, out, err = d.request_json(DEMO, dom, ins, "--wait-response")
            self.assertEqual(rc, 0, err)
            for k in ("id", "height", "response_id", "status", "result", "domain", "latency_ms"):
                self.assertIn(k, out)
            self.assertEqual(out["status"], "ok")
            self.assertEqual(out["domain"], dom)
            self.assertIn("simulated", out["result"])
            self.assertGreaterEqual(out["latency_ms"], 0)
            reqs[out["id"]] = (dom, out["response_id"])
            # the response is signed by the orchestrator key of that domain's provider
            resp = d.tx(out["response_id"])["tx"]
            prov = [p for p in d.genesis["providers"] if dom in p["domains"]][0]
            self.assertEqual(pem_norm(resp["public_key_pem"]), pem_norm(prov["orchestrator_key"]))
            self.assertEqual(resp["type"], "response")
            self.assertEqual(resp["request_id"], out["id"])
        # the plain (no --json) form prints the status and domain
        p = d.request(DEMO, "p0", "vm create plain0", "--wait-response")
        self.assertIn("status       ok", p.stdout)
        self.assertIn("domain       p0", p.stdout)
        # every request has exactly one response on every node's chain
        d.wait_heights_equal()
        for node in range(4):
            txs = d.chain(node)
            requests = [t["id"] for t in txs if t["type"] == "request"]
            for rid in requests:
                answers = [t for t in txs if t["type"] == "response" and t["request_id"] == rid]
                self.assertEqual(len(answers), 1, f"node {node}: request {rid} has {len(answers)} responses")
            for rid, (dom, resp_id) in reqs.items():
                self.assertIn(resp_id, [t["id"] for t in txs if t["type"] == "response"])
        # the drivers hold exactly what the ledger says, domain by domain
        self.assertEqual(sorted(o["name"] for o in d.sim_objects(1)), ["fw1", "web1"])
        self.assertEqual(sorted(o["name"] for o in d.sim_objects(2)), ["db1"])
        # devnet status shows the orchestrators
        st = run_json("devnet", "status", "--dir", d.dir, "--json")
        self.assertEqual(len(st["orchestrators"]), 4)
        for o in st["orchestrators"]:
            self.assertTrue(o["running"])
            self.assertIsInstance(o["height"], int)
            self.assertIn("pid", o)

    def assert_refused(self, p, code):
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(code, p.stderr)

    def test_admission_refusals_reach_no_driver(self):
        d = self.devnet(nodes=1)
        t1, t2, stranger = d.new_key("t1"), d.new_key("t2"), d.new_key("stranger")
        # forbidden operation: an SLA with vm:create only
        out = json.loads(d.tenant("register", "p0", t1, "--name", "t1", "--ops", "vm:create",
                                  "--max-vms", "1", "--json").stdout)
        self.assertEqual(out["status"], "committed")
        self.assertIsInstance(out["height"], int)
        p = d.request(t1, "p0", "vnf create fw1 --type firewall", check=False)
        self.assert_refused(p, "sla_forbidden")
        # unknown tenant
        p = d.request(stranger, "p0", "vm create s1", check=False)
        self.assert_refused(p, "unknown_tenant")
        # quota: max 1 VM
        rc, out, err = d.request_json(t1, "p0", "vm create q1", "--wait-response")
        self.assertEqual((rc, out["status"]), (0, "ok"), err)
        p = d.request(t1, "p0", "vm create q2", check=False)
        self.assert_refused(p, "quota_exceeded")
        # another tenant's object
        d.tenant("register", "p0", t2, "--name", "t2")
        p = d.request(t2, "p0", "vm delete q1", check=False)
        self.assert_refused(p, "not_owner")
        # revoked tenant
        d.tenant("revoke", "p0", t2)
        p = d.request(t2, "p0", "vm create r1", check=False)
        self.assert_refused(p, "revoked")
        # a tenant tx signed by another provider's admin key is refused with its code
        p = run("tenant", "register", "--dir", d.dir, "--admin-key", d.path("keys", "p0-node.pem"),
                "--domain", "p0", "--tenant-key", stranger, "--name", "x", check=False)
        self.assert_refused(p, "not_admin")
        # nothing refused reached the driver or the journal
        names = [o["name"] for o in d.sim_objects(0)]
        self.assertEqual(names, ["q1"])
        journal = d.journal(0)
        self.assertEqual([r["instruction"] for r in journal], ["vm create q1"])
        self.assertEqual(journal[0]["how"], "executed")

    def test_driver_failure_becomes_signed_error_response(self):
        d = self.devnet(nodes=4, driver={1: {"fail": {"vm:create": "no capacity left"}}})
        rc, out, err = d.request_json(DEMO, "p1", "vm create big1", "--wait-response")
        self.assertEqual(rc, 1, err)
        self.assertEqual(out["status"], "error")
        self.assertIn("no capacity left", out["error"])
        self.assertIn("answered with an error", err)
        resp = d.tx(out["response_id"])["tx"]
        self.assertEqual(resp["status"], "error")
        self.assertEqual(pem_norm(resp["public_key_pem"]),
                         pem_norm(d.genesis["providers"][1]["orchestrator_key"]))
        self.assertEqual(d.sim_objects(1), [])
        row = d.journal_entry(1, out["id"])
        self.assertEqual((row["outcome"], row["how"], row["state"]), (1, "executed", 3))

    def _start_slow_request(self, d, ins):
        """Submits ins to p1 (slow vnf:create), waits until orchestrator 1
        journaled its intent, then kills it with SIGKILL mid-execution."""
        rc, out, err = d.request_json(DEMO, "p1", ins)
        self.assertEqual(rc, 0, err)
        req = out["id"]
        deadline = time.time() + 20
        while time.time() < deadline:
            row = d.journal_entry(1, req)
            if row and row["state"] == 1:
                break
            time.sleep(0.05)
        else:
            self.fail("orchestrator 1 never started the request")
        run("devnet", "stop", "--dir", d.dir, "--node", 1, "--orchestrator", "--kill")
        row = d.journal_entry(1, req)
        self.assertEqual(row["state"], 1, "killed before the outcome")
        self.assertEqual(d.sim_objects(1), [], "killed before the simulated platform acted")
        return req

    def _check_once(self, d, req, name):
        resp = d.wait_response(req, timeout=40)
        self.assertEqual(resp["tx"]["status"], "ok", resp)
        d.wait_heights_equal()
        for node in range(4):
            txs = d.chain(node)
            self.assertEqual(len([t for t in txs if t["type"] == "response" and t["request_id"] == req]), 1)
        objs = d.sim_objects(1)
        self.assertEqual([o["name"] for o in objs], [name])
        # the driver's actual state matches the ledger: the object the
        # committed request created, with its canonical spec and owner
        rtx = d.tx(req)["tx"]
        canon = run("instr", "check", rtx["instruction"]).stdout.strip().splitlines()[0]
        self.assertEqual(objs[0]["spec"], canon)
        self.assertEqual(objs[0]["owner"], rtx["sender_hex"])
        self.assertEqual(objs[0]["domain"], "p1")
        row = d.journal_entry(1, req)
        self.assertEqual(row["state"], 3)   # closed: its response is on chain
        self.assertEqual(row["response_id"].hex(), resp["id"])
        return row

    def test_kill9_during_execution_runs_request_once(self):
        d = self.devnet(nodes=4, driver={1: {"latency_ms": {"vnf:create": 3000}}})
        req = self._start_slow_request(d, "vnf create slow1 --type firewall")
        run("devnet", "start", "--dir", d.dir, "--node", 1, "--orchestrator")
        row = self._check_once(d, req, "slow1")
        self.assertEqual(row["how"], "executed")
        log = read_text(d.path("orch1", "orch.log"))
        self.assertIn("did not take effect; running it now", log)
        # later requests still flow
        rc, out, err = d.request_json(DEMO, "p1", "vm create after1", "--wait-response")
        self.assertEqual((rc, out["status"]), (0, "ok"), err)

    def test_kill9_after_platform_acted_reconciles_without_rerun(self):
        d = self.devnet(nodes=4, driver={1: {"latency_ms": {"vnf:create": 3000}}})
        req = self._start_slow_request(d, "vnf create slow2 --type monitor")
        # the platform finished the operation just before the crash
        rtx = d.tx(req)["tx"]
        canon = run("instr", "check", rtx["instruction"]).stdout.strip().splitlines()[0]
        state = {"version": 1, "objects": [{"kind": "vnf", "name": "slow2", "domain": "p1",
                                            "owner": rtx["sender_hex"], "spec": canon}]}
        with open(d.sim_state_file(1), "w") as f:
            json.dump(state, f)
        t0 = time.time()
        run("devnet", "start", "--dir", d.dir, "--node", 1, "--orchestrator")
        row = self._check_once(d, req, "slow2")
        self.assertEqual(row["how"], "reconciled")
        self.assertLess(time.time() - t0, 20)
        self.assertIn("confirmed on the platform", d.wait_response(req)["tx"]["result"])

    def test_kill9_with_platform_unreadable_answers_unknown_without_rerun(self):
        d = self.devnet(nodes=4, driver={1: {"latency_ms": {"vnf:create": 3000}}})
        req = self._start_slow_request(d, "vnf create slow3 --type firewall")
        # the platform cannot be read when the orchestrator comes back
        cfg = d.orch_config(1)
        cfg["driver"]["fail"] = {"list": "platform API down"}
        d.write_orch_config(1, cfg)
        run("devnet", "start", "--dir", d.dir, "--node", 1, "--orchestrator")
        resp = d.wait_response(req, timeout=60)
        self.assertEqual(resp["tx"]["status"], "error", resp)
        self.assertIn("outcome unknown", resp["tx"]["error"])
        self.assertIn("platform API down", resp["tx"]["error"])
        self.assertIn("not run a second time", resp["tx"]["error"])
        # it was not run again: the simulated platform never saw it
        self.assertEqual(d.sim_objects(1), [])
        row = d.journal_entry(1, req)
        self.assertEqual(row["how"], "unknown")
        log = read_text(d.path("orch1", "orch.log"))
        self.assertIn("cannot read the platform to reconcile", log)
        self.assertNotIn("running it now", log)
        d.wait_heights_equal()
        for node in range(4):
            txs = d.chain(node)
            self.assertEqual(len([t for t in txs if t["type"] == "response" and t["request_id"] == req]), 1)

    def test_lost_journal_does_not_rerun_answered_requests(self):
        d = self.devnet(nodes=1)
        ids = []
        for ins in ("vm create j1", "vm create j2"):
            rc, out, err = d.request_json(DEMO, "p0", ins, "--wait-response")
            self.assertEqual((rc, out["status"]), (0, "ok"), err)
            ids.append(out["id"])
        run("devnet", "stop", "--dir", d.dir, "--node", 0, "--orchestrator")
        for f in os.listdir(d.path("orch0")):
            if f.startswith("journal.db"):
                os.unlink(d.path("orch0", f))
        run("devnet", "start", "--dir", d.dir, "--node", 0, "--orchestrator")
        rc, out, err = d.request_json(DEMO, "p0", "vm create j3", "--wait-response")
        self.assertEqual((rc, out["status"]), (0, "ok"), err)
        hows = {r["request_id"].hex(): r["how"] for r in d.journal(0)}
        self.assertEqual(hows[ids[0]], "answered_on_chain")
        self.assertEqual(hows[ids[1]], "answered_on_chain")
        self.assertEqual(hows[out["id"]], "executed")
        txs = d.chain(0)
        for rid in ids + [out["id"]]:
            self.assertEqual(len([t for t in txs if t["type"] == "response" and t["request_id"] == rid]), 1)

    def test_failover_when_own_node_is_down(self):
        d = self.devnet(nodes=4)
        run("devnet", "stop", "--dir", d.dir, "--node", 1)
        rc, out, err = d.request_json(DEMO, "p1", "vm create far1", "--wait-response")
        self.assertEqual((rc, out["status"]), (0, "ok"), err)
        self.assertEqual([o["name"] for o in d.sim_objects(1)], ["far1"])
        log = read_text(d.path("orch1", "orch.log"))
        self.assertIn("failing over from node p1 to node p2", log)
        run("devnet", "start", "--dir", d.dir, "--node", 1)
        rc, out, err = d.request_json(DEMO, "p1", "vm create far2", "--wait-response")
        self.assertEqual((rc, out["status"]), (0, "ok"), err)

    def test_lying_node_cannot_feed_a_fake_block(self):
        d = self.devnet(nodes=4)
        proxy = LyingProxy(d, 1, "vm create honest1", "vm create liar00x")
        self.addCleanup(proxy.close)
        # orchestrator 1 follows the lying proxy first, then node 2
        run("devnet", "stop", "--dir", d.dir, "--node", 1, "--orchestrator")
        cfg = d.orch_config(1)
        cfg["nodes"] = [proxy.url, d.genesis["providers"][2]["api"]]
        cfg["ca"] = "../ca.pem"
        d.write_orch_config(1, cfg)
        run("devnet", "start", "--dir", d.dir, "--node", 1, "--orchestrator")
        rc, out, err = d.request_json(DEMO, "p1", "vm create honest1", "--wait-response")
        self.assertEqual((rc, out["status"]), (0, "ok"), err)
        self.assertGreater(proxy.tampered, 0, "the proxy never served the block")
        self.assertEqual([o["name"] for o in d.sim_objects(1)], ["honest1"])
        log = read_text(d.path("orch1", "orch.log"))
        self.assertIn("served a block that does not verify", log)
        self.assertIn("tx_root", log)
        self.assertIn("to node p2", log)

    def test_node_that_drops_responses_is_routed_around(self):
        """Orchestrator 1 follows a node that answers every POST 202 and
        forwards nothing: its resubmission of a response goes to another
        node (it used to go to the same one, every 10 s, for ever)."""
        d = self.devnet(nodes=4)
        proxy = LyingProxy(d, 1, "x", "x", drop_posts=True)
        self.addCleanup(proxy.close)
        run("devnet", "stop", "--dir", d.dir, "--node", 1, "--orchestrator")
        cfg = d.orch_config(1)
        cfg["nodes"] = [proxy.url] + [d.genesis["providers"][i]["api"] for i in (2, 3)]
        cfg["ca"] = "../ca.pem"
        d.write_orch_config(1, cfg)
        run("devnet", "start", "--dir", d.dir, "--node", 1, "--orchestrator")
        rc, out, err = d.request_json(DEMO, "p1", "vm create dropped1", "--wait-response", "--timeout", "40000")
        self.assertEqual((rc, (out or {}).get("status")), (0, "ok"), err)
        self.assertGreater(proxy.dropped, 0, "the proxy never saw the response")
        log = read_text(d.path("orch1", "orch.log"))
        self.assertIn("submitting it again", log)

    def test_client_takes_no_commit_or_response_on_one_nodes_word(self):
        """`bsec request` asks a node that lies: first it calls every tx
        committed at height 424242 and drops them, then it names another
        request's genuine response as this one's.  With the genesis the
        client needs a proof that verifies for each, so it moves on to the
        honest nodes and reports the real height and response (it used to
        print the lie and exit 0)."""
        d = self.devnet(nodes=4)

        def ask(proxy, name):
            p = run("request", "--node", proxy.url, "--genesis", d.path("genesis.json"), "--ca", d.path("ca.pem"),
                    "--key", d.path(DEMO), "--domain", "p1", f"vm create {name}", "--wait-response", "--json",
                    "--timeout", "40000", check=False, timeout=90)
            return p.returncode, json.loads(p.stdout) if p.stdout.strip() else None, p.stderr

        liar = LyingProxy(d, 1, "x", "x", fake_commits=True)
        self.addCleanup(liar.close)
        rc, out, err = ask(liar, "proved1")
        self.assertEqual((rc, (out or {}).get("status")), (0, "ok"), err)
        self.assertGreater(liar.lies, 0)
        self.assertNotEqual(out["height"], 424242)
        self.assertIn("is committed, but it serves no proof", err)
        other = out["response_id"]
        liar.close()

        liar = LyingProxy(d, 1, "x", "x", response_id=other)
        self.addCleanup(liar.close)
        rc, out, err = ask(liar, "proved2")
        self.assertEqual((rc, (out or {}).get("status")), (0, "ok"), err)
        self.assertGreater(liar.lies, 0)
        self.assertNotEqual(out["response_id"], other)
        self.assertIn("not a response to this request", err)
        names = [o["name"] for o in d.sim_objects(1)]
        self.assertEqual(sorted(names), ["proved1", "proved2"])

    def test_node_with_a_skewed_clock_does_not_hold_responses(self):
        """Node 0's clock runs 90 s ahead, so it refuses every fresh tx as out
        of its timestamp window; orchestrator 0 follows it.  Its response must
        go through another node, re-signed at most a few times (it used to
        re-sign and resubmit to that node in a loop, thousands of times a
        second, and never answer)."""
        d = Devnet(nodes=4, env=dict(os.environ, BSEC_TEST_FAULTS="1", BSEC_CLOCK_OFFSET_FILE="clock.off"))
        self.addCleanup(d.close)
        with open(d.path("node0", "clock.off"), "w") as f:
            f.write("90000\n")
        time.sleep(1.2)   # the file is read again every 500 ms
        rc, out, err = d.request_json(DEMO, "p0", "vm create skew1", "--wait-response", "--node-index", "2",
                                      "--timeout", "40000")
        self.assertEqual((rc, (out or {}).get("status")), (0, "ok"), err)
        log = read_text(d.path("orch0", "orch.log"))
        self.assertIn("its clock is off", log)
        self.assertLess(log.count("re-signed with a current timestamp"), 5)

    def test_orchestrator_config_errors_are_quoted(self):
        with tempfile.TemporaryDirectory(prefix="bsec-orch-cfg-") as tmp:
            run("devnet", "init", "--dir", tmp, "--nodes", 1, "--driver", "sim")
            cfgp = os.path.join(tmp, "orch0", "config.json")
            base = load_json(cfgp)
            cases = [({"driver": {"type": "warp"}}, "\"warp\""),
                     ({"log_level": "loud"}, "\"loud\""),
                     ({"name": "p9"}, "p9"),
                     ({"domain": "p7"}, "p7"),
                     ({"orchestrator_key": "../keys/p0-admin.pem"}, "p0-admin.pem"),
                     ({"nodes": ["http://x"]}, "http://x"),
                     ({"bogus": 1}, "bogus"),
                     ({"driver": {"type": "sim", "latency_ms": -5}}, "-5")]
            for change, quoted in cases:
                with self.subTest(change=change):
                    cfg = dict(base)
                    cfg.update(change)
                    with open(cfgp, "w") as f:
                        json.dump(cfg, f)
                    p = run("orchestrator", "--config", cfgp, check=False, timeout=30)
                    self.assertEqual(p.returncode, 1, p.stderr)
                    self.assertIn(quoted, p.stderr)


if __name__ == "__main__":
    unittest.main()
