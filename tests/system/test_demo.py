"""The demo scenario as a test: `bsec demo --once` builds a 4-provider
consortium, creates a firewall and a forwarder in two domains, chains
them, sends real traffic through the chain (as root with ip/nft: tcp/80
passes, tcp/22 is dropped, an update opens tcp/443), checks refusals, that
every request has exactly one response on every node, and audits every
node's chain.  It exits non-zero when any step did not do what it should."""
import os
import re
import subprocess
import unittest

from bsecutil import BSEC


class DemoTest(unittest.TestCase):
    def namespaces(self):
        if os.geteuid() != 0:
            return set()
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        return {line.split()[0] for line in out.splitlines() if line.startswith("bsec-")}

    def test_demo_once(self):
        before = self.namespaces()
        p = subprocess.run([BSEC, "demo", "--once"], capture_output=True, text=True, timeout=600)
        out = re.sub(r"\x1b\[[0-9;]*m", "", p.stdout)
        self.assertEqual(p.returncode, 0, out[-3000:] + p.stderr[-2000:])
        self.assertIn("demo complete: 0 checks failed", out)
        self.assertNotIn("FAIL", out)
        for n in range(4):
            self.assertIn(f"node p{n}: every request has exactly one signed response", out)
        if os.geteuid() == 0 and "data plane: netns" in out:
            self.assertRegex(out, r"tcp/80 through sfc web: PASSES")
            self.assertRegex(out, r"tcp/22 through sfc web: DROPPED")
            self.assertRegex(out, r"tcp/443 through sfc web: PASSES")
        # nothing left behind (other devnets on this host may own namespaces of their own)
        self.assertEqual(self.namespaces() - before, set())


if __name__ == "__main__":
    unittest.main()
