"""A 200 MB text: how long it takes to load and how much memory the loaded corpus keeps (≤ 2 bytes/char)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from .conftest import ROOT, cli_env

SIZE = 200 * (1 << 20)

# Runs in a fresh interpreter so its resident set size measures this load and nothing else.
MEASURE = """\
import json, resource, sys, time
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()
def peak():  # VmHWM: this process image's high-water mark (ru_maxrss would include the parent's from before exec)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
from core import Trainer, load_corpus, preset
before = rss()
start = time.perf_counter()
corpus = load_corpus(sys.argv[1])
seconds = time.perf_counter() - start
after = rss()
trainer = Trainer.from_corpus(corpus, preset("min-char-rnn", hidden_size=16, seq_length=8, sample_every=0))
losses = [s.loss for s in trainer.run(iterations=5)]
print(json.dumps({"chars": len(corpus), "seconds": seconds, "resident": after - before,
                  "peak": peak(), "losses": losses}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_a_200_mb_file_loads_quickly_and_keeps_at_most_two_bytes_per_character(tmp_path):
    path = tmp_path / "big.txt"
    rng = np.random.default_rng(0)
    alphabet = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz      ,.;'!?\nABCDEFGHIJ", np.uint8)
    try:
        with open(path, "wb") as f:
            for _ in range(SIZE // (1 << 22)):
                f.write(alphabet[rng.integers(0, len(alphabet), 1 << 22)].tobytes())
        result = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True,
                                timeout=120, env=cli_env(), cwd=ROOT)
    finally:
        path.unlink(missing_ok=True)  # do not leave 200 MB behind in pytest's kept temp folders
    assert result.returncode == 0, result.stderr
    m = json.loads(result.stdout)
    print(f"200 MB corpus: loaded in {m['seconds']:.1f} s, {m['resident'] / m['chars']:.2f} bytes/char resident, "
          f"peak {m['peak'] / m['chars']:.2f} bytes/char")
    assert m["chars"] == SIZE
    assert m["resident"] <= 2 * m["chars"]
    assert m["peak"] <= 2 * m["chars"]  # while loading too: the file is read twice in pieces, never held whole
    assert m["seconds"] < 20  # about 3 s on an idle 2-core machine; generous for a shared one
    assert all(np.isfinite(m["losses"]))
