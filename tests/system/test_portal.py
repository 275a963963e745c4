"""The tenant portal in a real browser.  Installs what the browser tests
need (scripts/deps.sh browser: Debian's chromium, npm ci of the pinned
playwright-core in tests/browser), then:

  - tests/browser/vectors.test.mjs: the portal's JavaScript encoder,
    signer and grammar against the C ones (known-answer vectors and the
    bsec binary itself);
  - a 4-node devnet (sim driver) with its portal, and
    tests/browser/portal.test.mjs driving chromium through it (see there);
    afterwards the chain itself must hold the browser-signed requests
    (sender key == the public key the browser exported) with ok responses
    from p0's orchestrator, and nothing of the refused ones.

Screenshots land in build/browser-shots/."""
import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from bsecutil import BSEC, ROOT, run

BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
SHOTS = os.path.join(ROOT, "build", "browser-shots")


def pem_norm(pem):
    return "".join(pem.split())


def setUpModule():
    p = subprocess.run([os.path.join(ROOT, "scripts", "deps.sh"), "browser"], capture_output=True, text=True,
                       timeout=900)
    if p.returncode != 0:
        raise AssertionError(f"scripts/deps.sh browser failed:\n{p.stdout}{p.stderr}")


def node(args, env, timeout):
    p = subprocess.run(["node", *args], cwd=BROWSER_DIR, env={**os.environ, **env}, capture_output=True, text=True,
                       timeout=timeout)
    print(p.stdout[-6000:])
    if p.stderr.strip():
        print(p.stderr[-3000:])
    return p


class VectorsTest(unittest.TestCase):
    def test_js_encoder_matches_c(self):
        p = node(["--test", "vectors.test.mjs"], {"BSEC": BSEC}, 180)
        self.assertEqual(p.returncode, 0, "JavaScript and C disagree (see the output above)")
        self.assertIn("# fail 0", p.stdout)


class PortalBrowserTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bsec-portal-test-")
        self.up = False
        run("devnet", "init", "--dir", self.dir, "--nodes", 4, "--driver", "sim", "--view-timeout", 1000)
        run("devnet", "up", "--dir", self.dir, "--detach", timeout=90)
        self.up = True
        with open(os.path.join(self.dir, "genesis.json")) as f:
            self.genesis = json.load(f)
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.pem"))

    def tearDown(self):
        if self.up:
            subprocess.run([BSEC, "devnet", "down", "--dir", self.dir], capture_output=True, timeout=60)
        if os.path.exists(os.path.join(self.dir, "portal", "portal.log")):
            os.makedirs(SHOTS, exist_ok=True)
            shutil.copy(os.path.join(self.dir, "portal", "portal.log"), os.path.join(SHOTS, "portal.log"))
        shutil.rmtree(self.dir, ignore_errors=True)

    def api(self, path, node=0):
        url = self.genesis["providers"][node]["api"] + path
        try:
            with urllib.request.urlopen(url, context=self.ctx, timeout=15) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def flood_challenges(self, url, count):
        host = url.split("//", 1)[1].rstrip("/")
        hostname, port = host.rsplit(":", 1)
        conn = http.client.HTTPSConnection(hostname, int(port), context=self.ctx, timeout=30)
        hdrs = {"X-BSec-Request": "1", "Host": host}
        nonces = set()
        for _ in range(count):
            conn.request("POST", "/api/challenge", body=b"", headers=hdrs)
            r = conn.getresponse()
            body = json.loads(r.read())
            self.assertEqual(r.status, 200, body)
            nonces.add(body["nonce"])
        self.assertEqual(len(nonces), count)
        # only the portal's own name: a challenge asked for under another
        # Host (whose signature a relaying site could pass on) is refused
        conn.request("POST", "/api/challenge", body=b"", headers=dict(hdrs, Host="evil.example:443"))
        r = conn.getresponse()
        e = json.loads(r.read())
        self.assertEqual((r.status, e["error"]), (400, "wrong_host"), e)
        self.assertIn(host, e["message"])
        # on loopback the portal also answers to localhost (its certificate names it)
        conn.request("POST", "/api/challenge", body=b"",
                     headers=dict(hdrs, Host="localhost:" + port))
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.read())["host"], "localhost:" + port)
        # a nonce with its MAC altered is not one of ours
        forged = body["nonce"][:-2] + ("00" if body["nonce"][-2:] != "00" else "01")
        login = json.dumps({"scheme": "ed25519", "public_key_hex": "00" * 32, "nonce": forged,
                            "signature_hex": "00" * 64}).encode()
        conn.request("POST", "/api/login", body=login,
                     headers=dict(hdrs, **{"Content-Type": "application/json"}))
        r = conn.getresponse()
        body = json.loads(r.read())
        self.assertEqual((r.status, body["error"]), (401, "challenge_unknown"), body)
        conn.close()

    def chain(self, node=1):
        out, h = [], 1
        while True:
            _, body = self.api(f"/v1/blocks?from={h}&limit=100&txs=1", node)
            if not body["blocks"]:
                return out
            for b in body["blocks"]:
                for t in b["txs"]:
                    t["height"] = b["height"]
                    out.append(t)
                h = b["height"] + 1

    def test_tenant_in_the_browser(self):
        status = json.loads(run("devnet", "status", "--dir", self.dir, "--json").stdout)
        url = status["portal"]
        self.assertTrue(url and url.startswith("https://127.0.0.1:"), status)
        self.assertTrue(status["portal_process"]["running"])
        # sign-in challenges store nothing: more than the old table held
        # (10 000) are all handed out, and the browser signs in after them
        self.flood_challenges(url, 10500)
        shutil.rmtree(SHOTS, ignore_errors=True)
        os.makedirs(SHOTS)
        start = time.time()
        p = node(["portal.test.mjs"], {"PORTAL_URL": url, "DEVNET_DIR": self.dir, "BSEC": BSEC, "OUT_DIR": SHOTS}, 300)
        self.assertEqual(p.returncode, 0, "the browser test failed (output above, screenshots in build/browser-shots)")
        print(f"browser part: {time.time() - start:.1f} s")
        with open(os.path.join(SHOTS, "result.json")) as f:
            res = json.load(f)

        # the chain holds the browser-signed requests, answered ok by p0's orchestrator
        txs = self.chain()
        by_id = {t["id"]: t for t in txs}
        p0_orch = pem_norm(self.genesis["providers"][0]["orchestrator_key"])
        for key in ("vnf_request", "vnf2_request", "sfc_request", "update_request"):
            t = by_id.get(res[key])
            self.assertIsNotNone(t, f"{key} {res[key]} is not on the chain")
            self.assertEqual(t["type"], "request")
            self.assertEqual(t["scheme"], "ecdsa-p256")
            self.assertEqual(t["sender_hex"], res["public_key_hex"])
            self.assertEqual(pem_norm(t["public_key_pem"]), pem_norm(res["public_key_pem"]),
                             "the request's sender is the key the browser exported")
            _, st = self.api(f"/v1/transactions/{t['id']}", 1)
            self.assertIn("response_id", st)
            resp = by_id[st["response_id"]]
            self.assertEqual(resp["status"], "ok")
            self.assertEqual(resp["request_id"], t["id"])
            self.assertEqual(pem_norm(resp["public_key_pem"]), p0_orch)
        self.assertTrue(by_id[res["vnf_request"]]["instruction"].startswith("vnf create fw1 --type firewall"))
        self.assertEqual(by_id[res["vnf2_request"]]["instruction"], "vnf create mon1 --type monitor")
        self.assertEqual(by_id[res["update_request"]]["instruction"], "vnf update fw1 --config default=accept")
        self.assertEqual(by_id[res["sfc_request"]]["instruction"],
                         "sfc create web --chain fw1,mon1 --match proto=tcp,dport=80,src=10.0.0.0/8")
        # the request no block took in time is on no chain
        self.assertNotIn(res["lost_request"], by_id)
        for i in range(4):   # and no pool holds it any more
            st, _ = self.api(f"/v1/transactions/{res['lost_request']}", i)
            self.assertEqual(st, 404, f"node {i} still holds the request no block took in time")
        # refused in the portal: nothing of it reached the chain
        mine = [t for t in txs if t.get("sender_hex") == res["public_key_hex"]]
        self.assertEqual(sorted(t["id"] for t in mine),
                         sorted(res[k] for k in ("vnf_request", "vnf2_request", "sfc_request", "update_request")),
                         [t.get("instruction") for t in mine])
        for t in txs:
            self.assertNotEqual(t.get("instruction"), res["refused_instruction"])
            self.assertNotEqual(t.get("instruction"), res["refused_other"])
            self.assertFalse((t.get("instruction") or "").startswith("vnf create sneaky"))
        # screenshots of the main views
        for name in ("services", "history-sfc", "tx-proof", "phone-services", "builder-vnf"):
            self.assertTrue(os.path.getsize(os.path.join(SHOTS, f"{name}.png")) > 5000, name)


if __name__ == "__main__":
    unittest.main()
