"""Admission control (docs/operations.md, "Overload"): a node refuses new
client requests with 503 mempool_full while more txs wait in its pool than
it commits in backlog_ms; what it accepted is committed, nothing is lost,
and an orchestrator's responses are never refused for it.

A 4-node devnet with orchestrators, blocks of at most 64 txs and
backlog_ms = 20, so that an unpaced load of 30 000 requests keeps the
pools past the limit on any machine (the limit is then two full blocks,
128 txs) while the orchestrators answer the requests committed so far."""
import json
import os
import ssl
import subprocess
import sys
import tempfile
import shutil
import threading
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bsecutil import BSEC, run  # noqa: E402


def load(path):
    with open(path) as f:
        return json.load(f)


def save(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)


class OverloadTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bsec-overload-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        run("devnet", "init", "--dir", self.dir, "--nodes", 4, "--driver", "sim")
        gp = os.path.join(self.dir, "genesis.json")
        g = load(gp)
        g["params"]["max_block_txs"] = 64
        save(gp, g)
        self.genesis = g
        for i in range(4):
            cp = os.path.join(self.dir, f"node{i}", "config.json")
            c = load(cp)
            c["backlog_ms"] = 20
            save(cp, c)
        run("devnet", "up", "--dir", self.dir, "--detach", "--no-portal", timeout=90)
        self.addCleanup(run, "devnet", "down", "--dir", self.dir, check=False, timeout=60)
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.pem"))

    def metrics(self, i):
        url = self.genesis["providers"][i]["api"] + "/metrics"
        with urllib.request.urlopen(url, context=self.ctx, timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#"):
                out[parts[0]] = float(parts[1])
        return out

    def test_flood_is_refused_not_lost_and_responses_pass(self):
        # the flood: unpaced, every node, refused txs offered again
        flood = subprocess.Popen([BSEC, "bench", "load", "--dir", self.dir, "--count", "30000", "--json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # meanwhile a tenant's request through the CLI (which retries a 503)
        # and its orchestrator's response (never refused for the backlog)
        got = {}

        def tenant():
            p = subprocess.run([BSEC, "request", "--dir", self.dir, "--key",
                                os.path.join(self.dir, "tenants", "demo.pem"), "--domain", "p1",
                                "vm create amid-flood", "--wait-response", "--json"],
                               capture_output=True, text=True, timeout=120)
            got["rc"], got["out"], got["err"] = p.returncode, p.stdout, p.stderr
        th = threading.Thread(target=tenant)
        th.start()
        out, err = flood.communicate(timeout=300)
        th.join(timeout=130)
        self.assertEqual(flood.returncode, 0, err)
        r = json.loads(out)
        self.assertGreater(r["refused_mempool_full"], 0, r)     # shed, and offered again
        self.assertEqual(r["refused_other"], 0, r)
        self.assertEqual(r["submitted"], 30000, r)              # all accepted in the end
        self.assertEqual(r["committed"], r["submitted"], r)     # and every accepted one committed
        self.assertEqual(r["view_changes"], 0, r)
        self.assertFalse(th.is_alive())
        self.assertEqual(got["rc"], 0, got)
        resp = json.loads(got["out"])
        self.assertEqual(resp["status"], "ok", resp)
        m = [self.metrics(i) for i in range(4)]
        shed = sum(x["bsec_requests_shed_total"] for x in m)
        self.assertGreater(shed, 0, m)
        # the pool itself never filled: refusals came from the backlog rule
        self.assertEqual(sum(x["bsec_mempool_full_total"] for x in m), 0, m)
        # the orchestrators answered while the pools were past the limit,
        # and no node refused a response for it (they would log the 503)
        for i in range(4):
            with open(os.path.join(self.dir, f"orch{i}", "orch.log")) as f:
                shed = [line for line in f if "is behind" in line]
            self.assertEqual(shed, [], f"orchestrator {i}: a response was refused for the backlog")
        # the rate admission control works from is the rate the nodes
        # committed at (loosely: it is sampled only while the pools were full)
        rates = [x["bsec_commit_rate_txs"] for x in m]
        self.assertTrue(any(0.25 * r["tx_per_s"] <= c <= 4 * r["tx_per_s"] for c in rates),
                        (rates, r["tx_per_s"]))


if __name__ == "__main__":
    unittest.main()
