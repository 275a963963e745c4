"""The ledger core through the CLI: keys, tx files, and checks by
independent implementations — Node's crypto verifies our signatures from
`tx show --json`, OpenSSL's command line reads our PEM keys, and a
Python encoder written from the format spec (docs/formats.md) rebuilds
the exact bytes and id."""
import hashlib
import json
import os
import stat
import struct
import subprocess
import time
import unittest

from bsecutil import BSEC, TempDir, run, run_json

SCHEMES = ["ed25519", "ecdsa-p256", "rsa-pss-2048"]
SCHEME_IDS = {"ed25519": 1, "ecdsa-p256": 2, "rsa-pss-2048": 3}
CHAIN = hashlib.sha256(b"bsec-system-test").hexdigest()

NODE_VERIFY = r"""
const crypto = require('crypto');
const t = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const data = Buffer.from(t.signed_bytes_hex, 'hex');
const sig = Buffer.from(t.signature_hex, 'hex');
const key = crypto.createPublicKey(t.public_key_pem);
let ok;
if (t.scheme === 'ed25519') ok = crypto.verify(null, data, key, sig);
else if (t.scheme === 'ecdsa-p256') ok = crypto.verify('sha256', data, {key, dsaEncoding: 'ieee-p1363'}, sig);
else ok = crypto.verify('sha256', data, {key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32}, sig);
process.stdout.write(ok ? 'valid' : 'invalid');
"""


def node_verify(tx):
    p = subprocess.run(["node", "-e", NODE_VERIFY], input=json.dumps(tx), capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def encode_request(scheme, sender, ts, nonce, domain, instruction):
    """The REQUEST content, written from the spec."""
    d, i = domain.encode(), instruction.encode()
    return (struct.pack(">BBQI", 1, 1, ts, nonce) + bytes([SCHEME_IDS[scheme]]) + sender
            + bytes([len(d)]) + d + struct.pack(">H", len(i)) + i)


class CliTest(unittest.TestCase):
    def test_sign_and_verify_independently(self):
        with TempDir() as d:
            for scheme in SCHEMES:
                with self.subTest(scheme=scheme):
                    key = os.path.join(d, f"{scheme}.pem")
                    run("keygen", "--scheme", scheme, "--out", key)
                    self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
                    # OpenSSL's command line reads our PKCS#8 key
                    o = subprocess.run(["openssl", "pkey", "-in", key, "-pubout"],
                                       capture_output=True, text=True)
                    self.assertEqual(o.returncode, 0, o.stderr)
                    ins = "vnf create fw1 --type firewall --config default=drop"
                    out = os.path.join(d, f"{scheme}.tx")
                    run("tx", "request", "--key", key, "--chain-id", CHAIN, "--domain", "p1",
                        "--instruction", ins, "--timestamp", "1763700000000", "--nonce", "77",
                        "--out", out)
                    tx = run_json("tx", "show", out, "--json")
                    for field in ("id", "type", "size", "scheme", "public_key_pem",
                                  "signed_bytes_hex", "signature_hex"):
                        self.assertIn(field, tx)
                    self.assertEqual(tx["scheme"], scheme)
                    self.assertEqual(tx["type"], "request")
                    self.assertEqual(o.stdout.strip(), tx["public_key_pem"].strip())
                    self.assertEqual(node_verify(tx), "valid")
                    # a changed byte must not verify
                    bad = dict(tx)
                    sb = bytearray.fromhex(tx["signed_bytes_hex"])
                    sb[-1] ^= 1
                    bad["signed_bytes_hex"] = sb.hex()
                    self.assertEqual(node_verify(bad), "invalid")
                    # independent encoding from the spec
                    content = encode_request(scheme, bytes.fromhex(tx["sender_hex"]), 1763700000000,
                                             77, "p1", ins)
                    raw = bytes.fromhex(tx["raw_hex"])
                    self.assertEqual(raw[:len(content)], content)
                    self.assertEqual(len(raw), tx["size"])
                    self.assertEqual(bytes.fromhex(tx["signed_bytes_hex"]),
                                     b"bsec/tx/v1" + bytes.fromhex(CHAIN) + content)
                    self.assertEqual(tx["id"], hashlib.sha256(bytes.fromhex(CHAIN) + content).hexdigest())
                    self.assertEqual(run("tx", "verify", out).returncode, 0)

    def test_size_target(self):
        with TempDir() as d:
            key = os.path.join(d, "k.pem")
            run("keygen", "--out", key)
            out = os.path.join(d, "t.tx")
            ins = "vm create " + "a" * 22  # 32 bytes
            self.assertEqual(len(ins), 32)
            run("tx", "request", "--key", key, "--chain-id", CHAIN, "--domain", "p1",
                "--instruction", ins, "--out", out)
            self.assertLessEqual(run_json("tx", "show", out, "--json")["size"], 160)

    def test_refusals(self):
        with TempDir() as d:
            key = os.path.join(d, "k.pem")
            run("keygen", "--out", key)
            # group-readable key refused
            os.chmod(key, 0o640)
            p = run("tx", "request", "--key", key, "--chain-id", CHAIN, "--domain", "p1",
                    "--instruction", "vm create a", "--out", os.path.join(d, "x.tx"), check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("640", p.stderr)
            os.chmod(key, 0o600)
            # bad instruction: position and reason
            p = run("tx", "request", "--key", key, "--chain-id", CHAIN, "--domain", "p1",
                    "--instruction", "vm create Bad", "--out", os.path.join(d, "x.tx"), check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("at 11", p.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "x.tx")))
            # bad chain id
            p = run("tx", "request", "--key", key, "--chain-id", "zz", "--domain", "p1",
                    "--instruction", "vm create a", "--out", os.path.join(d, "x.tx"), check=False)
            self.assertNotEqual(p.returncode, 0)
            # tampered file fails verification; truncated file is refused with a reason
            out = os.path.join(d, "t.tx")
            run("tx", "request", "--key", key, "--chain-id", CHAIN, "--domain", "p1",
                "--instruction", "vm create a", "--out", out)
            with open(out, "rb") as fh:
                data = bytearray(fh.read())
            data[60] ^= 0x01
            with open(out, "wb") as fh:
                fh.write(bytes(data))
            self.assertEqual(run("tx", "verify", out, check=False).returncode, 1)
            with open(out, "wb") as fh:
                fh.write(bytes(data[:50]))
            p = run("tx", "show", out, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("truncated", p.stderr)

    def test_paths_and_values_that_are_not_what_they_seem(self):
        """Found in review: --out onto a device replaced it (as root,
        /dev/null); a FIFO given as a key hung the command; non-UTF-8 text
        in a genesis crashed it; an empty --dir wrote a devnet into /; a
        node count with trailing text was taken; providers sharing a key
        made a genesis whose f is a lie; a killed keygen left an empty key
        that blocked the next."""
        with TempDir() as d:
            key = os.path.join(d, "k.pem")
            run("keygen", "--out", key)
            dev = os.path.join(d, "null")
            os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            p = run("tx", "request", "--key", key, "--chain-id", CHAIN, "--domain", "p1",
                    "--instruction", "vm create a", "--out", dev, check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("not a regular file", p.stderr)
            self.assertTrue(stat.S_ISCHR(os.lstat(dev).st_mode), "the device was replaced")
            fifo = os.path.join(d, "fifo")
            os.mkfifo(fifo)
            for args in (["tx", "request", "--key", fifo, "--chain-id", CHAIN, "--domain", "p1",
                          "--instruction", "vm create a", "--out", os.path.join(d, "x.tx")],
                         ["genesis", "show", fifo], ["tx", "show", fifo]):
                p = run(*args, check=False, timeout=20)
                self.assertNotEqual(p.returncode, 0, args)
                self.assertIn("not a regular file", p.stderr, args)
            # non-UTF-8 values: a clear refusal, not a crash
            dn0 = os.path.join(d, "dn0")
            run("devnet", "init", "--dir", dn0, "--nodes", "1", "--driver", "sim")
            pem = {r: os.path.join(dn0, "keys", f"p0-{r}.pem") for r in ("node", "orch", "admin")}
            base = [BSEC.encode(), b"genesis", b"provider", b"--node-key", pem["node"].encode(),
                    b"--orchestrator-key", pem["orch"].encode(), b"--admin-key", pem["admin"].encode(),
                    b"--peer", b"127.0.0.1:1", b"--api", b"https://127.0.0.1:2",
                    b"--tls-cert", os.path.join(dn0, "tls", "p0.pem").encode(), b"--out", os.path.join(d, "p.json").encode()]
            for extra in ([b"--name", b"\xff"], [b"--name", b"ok", b"--domain", b"\xffa"]):
                q = subprocess.run(base + extra, capture_output=True, timeout=30)
                self.assertIn(q.returncode, (1, 2), (extra, q.stderr))
                self.assertIn(b"UTF-8", q.stderr)
            # a consortium's genesis is not replaced by accident
            q = subprocess.run(base + [b"--name", b"p0"], capture_output=True, timeout=30)
            self.assertEqual(q.returncode, 0, q.stderr)
            gout = os.path.join(d, "g.json")
            run("genesis", "init", "--name", "c1", "--out", gout, os.path.join(d, "p.json"))
            with open(gout, "rb") as f:
                first = f.read()
            p = run("genesis", "init", "--name", "c2", "--out", gout, os.path.join(d, "p.json"), check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("already exists", p.stderr)
            with open(gout, "rb") as f:
                self.assertEqual(f.read(), first)
            p = run("genesis", "init", "--name", "c1", "--max-block-txs", "-1", "--out", gout + "2",
                    os.path.join(d, "p.json"), check=False)
            self.assertEqual(p.returncode, 2, p.stderr)
            run("genesis", "init", "--name", "c2", "--force", "--out", gout, os.path.join(d, "p.json"))
            # devnet init: an empty --dir and a count with trailing text
            p = run("devnet", "init", "--dir", "", "--nodes", "1", check=False)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertFalse(os.path.exists("/genesis.json"))
            for n in ("1e5", "4294967300", "4x"):
                p = run("devnet", "init", "--dir", os.path.join(d, "dn"), "--nodes", n, check=False)
                self.assertEqual(p.returncode, 2, (n, p.stderr))
            self.assertFalse(os.path.exists(os.path.join(d, "dn", "genesis.json")))
            # keygen never leaves an empty key behind, killed at any moment
            for delay in (0.002, 0.01, 0.03, 0.06):
                k = os.path.join(d, f"r{delay}.pem")
                pr = subprocess.Popen([BSEC, "keygen", "--scheme", "rsa-pss-2048", "--out", k],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(delay)
                pr.terminate()
                pr.wait(30)
                if os.path.exists(k):
                    self.assertGreater(os.path.getsize(k), 100, "a killed keygen left a partial key")
                else:
                    run("keygen", "--scheme", "ed25519", "--out", k)
                self.assertEqual([f for f in os.listdir(d) if ".tmp." in f], [])

    def test_genesis_refuses_shared_keys(self):
        with TempDir() as d:
            dn = os.path.join(d, "dn")
            run("devnet", "init", "--dir", dn, "--nodes", "4", "--driver", "sim")
            with open(os.path.join(dn, "genesis.json")) as f:
                g = json.load(f)
            for field in ("node_key", "orchestrator_key", "admin_key", "tls_cert"):
                with self.subTest(field=field):
                    bad = json.loads(json.dumps(g))
                    other = "node_key" if field == "orchestrator_key" else field
                    bad["providers"][1][field] = g["providers"][0][other]
                    path = os.path.join(d, f"bad-{field}.json")
                    with open(path, "w") as f:
                        json.dump(bad, f)
                    p = run("genesis", "show", path, check=False)
                    self.assertEqual(p.returncode, 1, p.stdout)
                    self.assertIn("share", p.stderr)

    def test_tenant_and_response(self):
        with TempDir() as d:
            admin, tenant = os.path.join(d, "a.pem"), os.path.join(d, "t.pem")
            run("keygen", "--scheme", "rsa-pss-2048", "--out", admin)
            run("keygen", "--scheme", "ecdsa-p256", "--out", tenant)
            out = os.path.join(d, "ten.tx")
            run("tx", "tenant", "--key", admin, "--chain-id", CHAIN, "--action", "register",
                "--domain", "p2", "--tenant-key", tenant, "--name", "acme", "--ops", "vnf:*,sfc:create",
                "--max-vnfs", "4", "--out", out)
            tx = run_json("tx", "show", out, "--json")
            self.assertEqual(tx["type"], "tenant")
            self.assertEqual(tx["sla"]["ops"], "vnf:create,vnf:update,vnf:delete,sfc:create")
            self.assertEqual(tx["sla"]["max_vnfs"], 4)
            self.assertEqual(node_verify(tx), "valid")
            out2 = os.path.join(d, "resp.tx")
            run("tx", "response", "--key", admin, "--chain-id", CHAIN, "--request-id", tx["id"],
                "--status", "error", "--error", "no capacity", "--out", out2)
            r = run_json("tx", "show", out2, "--json")
            self.assertEqual((r["status"], r["error"], r["request_id"]), ("error", "no capacity", tx["id"]))
            self.assertEqual(node_verify(r), "valid")


if __name__ == "__main__":
    unittest.main()
