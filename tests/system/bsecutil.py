"""Shared helpers for BSec's process-level tests: where the binary is,
running it, temporary directories that clean themselves up."""
import json
import os
import shutil
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BSEC = os.environ.get("BSEC", os.path.join(ROOT, "build", "bsec"))


def run(*args, check=True, timeout=120, input=None, env=None):
    """Runs bsec with args (and env: the whole environment, None: ours);
    returns CompletedProcess (text)."""
    p = subprocess.run([BSEC, *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, input=input, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"bsec {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stderr}")
    return p


def run_json(*args, **kw):
    return json.loads(run(*args, **kw).stdout)


class TempDir:
    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="bsec-test-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
