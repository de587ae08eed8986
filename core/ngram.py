"""Character n-gram baselines: interpolated Kneser-Ney models of orders 1..N, scored in held-out bits/char.

The paper behind the lecture (Karpathy, Johnson, Fei-Fei 2015) measures its recurrent networks against
character n-grams; this module gives the same yardstick for any corpus and the trainer's own split.

Model. The k-gram is interpolated Kneser-Ney (Chen & Goodman 1998, one discount per order):

    P_k(c | h) = (max(C(hc) - D_k, 0) + D_k * N1+(h.) * P_{k-1}(c | h')) / C(h)      if C(h) > 0
               = P_{k-1}(c | h')                                                    otherwise

where h is the k-1 characters before c, h' is h without its oldest character, C counts strings in the
training split, N1+(h.) is how many distinct characters follow h there, and D_k = n1 / (n1 + 2 n2) from the
numbers of k-character strings seen once (n1) and twice (n2), kept in [0.1, 1]. The lower orders inside a
k-gram use continuation counts instead of C: C'(s) = N1+(.s), the number of distinct characters seen just
before s (each with its own discount, the same formula on those counts). Under the 1-gram sits the uniform
distribution 1/V over the corpus's vocabulary. So every order is a proper distribution over the V
characters (the discounted mass of a context is exactly what it hands down), and no character gets 0:
one never seen in training still gets D_1 * N1+(.) / N / V > 0 from the 1-gram, a finite cost.

Split. Training counts come from data[:n_train] (core.corpus.train_length, as core.trainer uses); the score
is the mean -log2 P of the held-out characters data[n_train:stop]: the trainer scores the first eval_chars
of that tail, so stop = n_train + eval_chars compares with its held-out bits/char. A held-out character's
context is the text just before it, which for the first few is the end of the training split.

Counting (no Python loop per character). A string of length L is (its first character, the number of the
L-1 characters after it), keyed first_char * S + suffix_number. The training positions, kept in the order of
the (L-1)-strings ending there, are stably sorted by the character before them (a radix argsort of small ids,
not a general sort: 10.7 s -> 1.7 s for orders 1..5 on Shakespeare), so the keys come out sorted; where they
change a new string begins (its count: the run's length). The query strings (the held-out contexts and
characters) are numbered with np.searchsorted in the same keys, then each table is dropped: memory holds the
tables of two lengths at a time plus a few numbers per held-out character and order.

Cost, built-in Shakespeare (4.6 M training characters, bench/ngram.py): orders 1..5 in ~2 s and 330 MB peak,
1..6 (DEFAULT_ORDERS; the 6-gram is its best, 2.177 bits/char) ~2-4 s and 370 MB, 1..10 ~6 s and 660 MB, 1..20
12-23 s and 1.2 GB; any order up to MAX_ORDER can be asked for. baselines() refuses training parts over
MAX_TRAIN_CHARS (about 1 GB at orders 1..6). Results are cached per corpus (baselines()): a JSON file in the
user's cache folder under a key hashed from the text, the split, the orders and VERSION.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VERSION = 1  # bump when the model or the scoring changes: old cached numbers are ignored
# What the app and the CLI count: on the built-in Shakespeare the 6-gram is the best (2.177 bits/char on the held-out
# tail; 7: 2.178, 10: 2.220, 20: 2.225) and 1..6 take ~2-4 s and 370 MB, where 1..20 take 12-23 s and 1.2 GB.
DEFAULT_ORDERS = (1, 2, 3, 4, 5, 6)
MAX_ORDER = 20  # the highest order offered (the paper's 20-gram)
DISCOUNT_RANGE = (0.1, 1.0)  # a discount of 0 would give unseen characters no probability; above 1, negative mass
CACHE_SUBDIR = "ngram"  # under core.builtins.cache_dir()
CACHE_ENV = "CHARRNN_NGRAM_CACHE_DIR"  # overrides the cache folder (the tests point it at a temporary folder)
# Counting needs about 80 bytes per training character for orders 1..6 (peak 370 MB for Shakespeare's 4.6 M, the
# interpreter included; 1..5: 330 MB, 1..10: 660 MB, 1..20: 1.2 GB): longer training texts get no baselines (~1 GB).
MAX_TRAIN_CHARS = 12_000_000


@dataclass
class _OrderStats:
    """What the k-gram formula needs at each query row, for one order k (arrays of shape (R,))."""

    count: np.ndarray  # (R,) C(hc): training count of the k characters ending at the queried one
    context: np.ndarray  # (R,) C(h): sum of C(hc') over all c'; 0 when the context was never seen
    types: np.ndarray  # (R,) N1+(h.): distinct characters seen after h
    discount: float  # D_k
    cont_count: np.ndarray | None = None  # (R,) N1+(.hc), the continuation count (orders below the top)
    cont_context: np.ndarray | None = None  # (R,) sum over c' of N1+(.hc')
    cont_types: np.ndarray | None = None  # (R,) characters c' with N1+(.hc') > 0
    cont_discount: float = 0.5  # D'_k on continuation counts


def _discount(counts: np.ndarray) -> float:
    """n1 / (n1 + 2 n2) of a count table, clipped to DISCOUNT_RANGE (0.5 when nothing was seen once or twice)."""
    n1 = int(np.count_nonzero(counts == 1))
    n2 = int(np.count_nonzero(counts == 2))
    d = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
    return float(min(DISCOUNT_RANGE[1], max(DISCOUNT_RANGE[0], d)))


def _lookup(keys: np.ndarray, parent: np.ndarray, chars: np.ndarray, S: int) -> np.ndarray:
    """Numbers of the strings (one more character on the left of a parent string) in a sorted key table, -1 if
    absent. Keys are first_char * S + parent, S the number of parent strings.

    parent, chars: (R,) ints, -1 where there is no parent string (unseen) or no character (before the text)."""
    if len(keys) == 0:
        return np.full(len(parent), -1, dtype=np.int64)
    ok = (parent >= 0) & (chars >= 0)  # (R,)
    q = np.where(ok, chars * S + parent, 0)  # (R,) int64 keys
    i = np.searchsorted(keys, q)  # (R,)
    i = np.minimum(i, len(keys) - 1)
    return np.where(ok & (keys[i] == q), i, -1)


def _take(table: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """table[ids] as float64, 0 where ids is -1."""
    if len(table) == 0:
        return np.zeros(len(ids))
    return np.where(ids >= 0, table[np.maximum(ids, 0)], 0).astype(np.float64)


def order_stats(train: np.ndarray, V: int, queries: np.ndarray, max_order: int) -> list[_OrderStats]:
    """Count the training text's strings up to max_order characters and read off what each query row needs.

    train: (n,) character ids; queries: (R, W) character ids with W >= max_order, each row a context (columns
    0..W-2, the newest last; -1 = before the start of the text) and the character it predicts (column W-1).
    Returns stats[k - 1] for k = 1..max_order (continuation fields filled for k < max_order)."""
    R, W = queries.shape
    if W < max_order:
        raise ValueError(f"queries need at least {max_order} columns for order {max_order}")
    x = np.asarray(train)  # (n,) small ids: a stable argsort of them is a radix sort
    if x.dtype.kind not in "ui":
        x = x.astype(np.int64)
    n = len(x)
    q = np.asarray(queries, dtype=np.int64)  # (R, W)
    # Length 0: the empty string, number 0, at every position 0..n; perm lists positions in string order.
    sid = np.zeros(n + 1, dtype=np.int64)  # (n + 1,) number of x[p-L:p] at position p (-1 when p < L)
    perm = np.arange(n + 1)  # (m,) the positions p >= L, ordered by the number of x[p-L:p]
    ev = np.zeros(R, dtype=np.int64)  # (R,) number of the L characters ending at the queried one
    ctx = np.zeros(R, dtype=np.int64)  # (R,) number of the L characters before the queried one
    stats: list[_OrderStats] = []
    sizes = [1]  # sizes[L]: how many distinct L-character strings training holds (one empty string)
    prev = None  # (counts, prefix, ev, ctx) of length L - 1, waiting for its continuation counts
    for L in range(1, max_order + 1):
        S = sizes[L - 1]
        perm = perm[perm >= L]  # (m,) positions that end an L-character string, still in (L-1)-string order
        if len(perm) == 0:  # no string this long in training: every lookup fails, the order hands everything down
            keys = counts = prefix = np.empty(0, dtype=np.int64)
        else:
            first = x[perm - L]  # (m,) each string's first (oldest) character
            by_first = np.argsort(first, kind="stable")  # radix sort; keeps the (L-1)-string order within
            perm = perm[by_first]
            key = first[by_first].astype(np.int64) * S + sid[perm]  # (m,) sorted: (first character, rest)
            starts = np.empty(len(key), dtype=bool)  # (m,) where a new string begins
            starts[0] = True
            np.not_equal(key[1:], key[:-1], out=starts[1:])
            keys = key[starts]  # (S_L,) sorted keys of the distinct L-character strings
            at = np.flatnonzero(starts)  # (S_L,)
            counts = np.diff(np.append(at, len(key)))  # (S_L,) C(s)
            prefix = sid[perm[at] - 1]  # (S_L,) number of s without its last character: x[p-L:p-1] ends at p-1
            sid = np.full(n + 1, -1, dtype=np.int64)
            sid[perm] = np.cumsum(starts) - 1
        sizes.append(len(keys))
        ev_new = _lookup(keys, ev, q[:, W - L], S)  # (R,) the L characters ending at the queried one
        c_total = np.bincount(prefix, weights=counts, minlength=sizes[L - 1])  # (S_{L-1},) C(h)
        c_types = np.bincount(prefix, minlength=sizes[L - 1])  # (S_{L-1},) N1+(h.)
        stats.append(_OrderStats(count=_take(counts, ev_new), context=_take(c_total, ctx),
                                 types=_take(c_types, ctx), discount=_discount(counts)))
        if prev is not None:  # the continuation counts of the (L-1)-strings: their distinct left neighbours
            p_counts, p_prefix, p_ev, p_ctx = prev
            cont = np.bincount(keys % S, minlength=S)  # (S_{L-1},) N1+(.s)
            k_total = np.bincount(p_prefix, weights=cont, minlength=sizes[L - 2])  # (S_{L-2},) sum of N1+(.hc)
            k_types = np.bincount(p_prefix, weights=cont > 0, minlength=sizes[L - 2])  # (S_{L-2},) c with N1+(.hc) > 0
            s = stats[L - 2]
            s.cont_count, s.cont_context, s.cont_types = _take(cont, p_ev), _take(k_total, p_ctx), _take(k_types, p_ctx)
            s.cont_discount = _discount(cont[cont > 0])
        prev = (counts, prefix, ev_new, ctx)
        if L < max_order:
            ctx = _lookup(keys, ctx, q[:, W - 1 - L], S)  # (R,) the L characters before the queried one
        ev = ev_new
    return stats


def _interpolate(count, context, types, discount: float, lower: np.ndarray) -> np.ndarray:
    """One Kneser-Ney level: the discounted counts plus the handed-down mass times the lower order, (R,)."""
    seen = context > 0  # (R,)
    p = (np.maximum(count - discount, 0.0) + discount * types * lower) / np.where(seen, context, 1.0)
    return np.where(seen, p, lower)


def probabilities(stats: list[_OrderStats], order: int, V: int) -> np.ndarray:
    """P_order(queried character | its context) for every query row, (R,)."""
    p = np.full(len(stats[0].count), 1.0 / V)  # (R,) uniform under the 1-gram
    for s in stats[:order - 1]:
        p = _interpolate(s.cont_count, s.cont_context, s.cont_types, s.cont_discount, p)
    s = stats[order - 1]
    return _interpolate(s.count, s.context, s.types, s.discount, p)


def ngram_probs(train: np.ndarray, V: int, queries: np.ndarray, orders) -> dict[int, np.ndarray]:
    """{k: (R,) probability of each query row's last character after its context} for each order k."""
    orders = sorted(set(int(k) for k in orders))
    _check_orders(orders)
    stats = order_stats(train, V, queries, orders[-1])
    return {k: probabilities(stats, k, V) for k in orders}


def next_char_distribution(train: np.ndarray, V: int, context, order: int) -> np.ndarray:
    """The k-gram's distribution over the V characters after a context (a sequence of ids), (V,)."""
    W = max(order, 1)
    ctx = np.full(W - 1, -1, dtype=np.int64)  # (W-1,) -1: before the start of the text
    tail = np.asarray(context, dtype=np.int64)[-(W - 1):] if W > 1 else np.empty(0, np.int64)
    ctx[len(ctx) - len(tail):] = tail
    queries = np.concatenate([np.tile(ctx, (V, 1)), np.arange(V)[:, None]], axis=1)  # (V, W)
    return ngram_probs(train, V, queries, [order])[order]


def held_out_queries(data: np.ndarray, start: int, stop: int, width: int) -> np.ndarray:
    """(stop - start, width) windows: for each held-out position i, data[i-width+1:i+1] (-1 before the text)."""
    lo = max(0, start - (width - 1))
    padded = np.concatenate([np.full(width - 1 - (start - lo), -1, dtype=np.int64),
                             np.asarray(data[lo:stop], dtype=np.int64)])  # (stop - start + width - 1,)
    return np.lib.stride_tricks.sliding_window_view(padded, width)  # (stop - start, width), a view


def held_out_bits(data: np.ndarray, V: int, n_train: int, stop: int | None = None, orders=DEFAULT_ORDERS
                  ) -> dict[int, float]:
    """{k: bits per character of the k-gram trained on data[:n_train], on data[n_train:stop]} (mean -log2 P)."""
    orders = sorted(set(int(k) for k in orders))
    _check_orders(orders)
    stop = len(data) if stop is None else min(int(stop), len(data))
    if not 0 < n_train < stop:
        raise ValueError("n-gram baselines need a training part and a held-out part")
    queries = held_out_queries(data, n_train, stop, orders[-1])
    probs = ngram_probs(np.asarray(data[:n_train]), V, queries, orders)
    return {k: float(-np.log2(p).mean()) for k, p in probs.items()}


def _check_orders(orders) -> None:
    """ValueError unless the sorted orders are within 1..MAX_ORDER."""
    if not orders or orders[0] < 1 or orders[-1] > MAX_ORDER:
        raise ValueError(f"n-gram orders must be between 1 and {MAX_ORDER}")


# -- the per-corpus cache -------------------------------------------------------------------------

def labels(bits: dict[int, float]) -> dict[str, float]:
    """{"1-gram": bits, ...} in order, as run.json records them."""
    return {f"{k}-gram": float(v) for k, v in sorted(bits.items())}


def cache_key(data: np.ndarray, vocab_chars, n_train: int, stop: int, orders) -> str:
    """sha256 of the text (its ids and vocabulary), the split, the orders and VERSION."""
    h = hashlib.sha256()
    h.update(json.dumps({"version": VERSION, "vocab": "".join(vocab_chars), "n": len(data), "n_train": int(n_train),
                         "stop": int(stop), "orders": sorted(int(k) for k in orders)}).encode("utf-8", "surrogatepass"))
    h.update(np.ascontiguousarray(data))  # the ids' buffer, not a copy
    return h.hexdigest()


def default_cache_folder() -> Path:
    """Where baselines are cached: $CHARRNN_NGRAM_CACHE_DIR, else <the user's cache folder for charrnn>/ngram
    ($CHARRNN_CACHE_DIR honoured)."""
    from .builtins import cache_dir

    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override)

    return cache_dir() / CACHE_SUBDIR


def baselines(corpus, n_train: int, stop: int | None = None, orders=DEFAULT_ORDERS, folder=None,
              compute: bool = True) -> dict[int, float] | None:
    """held_out_bits for a Corpus, read from the cache when this text, split and orders were scored before.

    compute=False: only the cache (None when it has nothing). A cache that cannot be read or written is ignored
    (the numbers are then computed, and not kept). ValueError when the split leaves no held-out part or the
    training part is longer than MAX_TRAIN_CHARS."""
    data = corpus.data
    stop = len(data) if stop is None else min(int(stop), len(data))
    orders = sorted(set(int(k) for k in orders))
    if n_train > MAX_TRAIN_CHARS:  # never counted, so never cached: not even hashed
        if not compute:
            return None
        raise ValueError(f"n-gram baselines are counted on training texts of up to {MAX_TRAIN_CHARS:,} characters "
                         f"(this one has {n_train:,})")
    path = Path(folder if folder is not None else default_cache_folder()) / (
        cache_key(data, corpus.vocab.chars, n_train, stop, orders) + ".json")
    cached = _read_cache(path, orders)
    if cached is not None or not compute:
        return cached
    bits = held_out_bits(data, len(corpus.vocab), n_train, stop, orders)
    _write_cache(path, bits)
    return bits


def _read_cache(path: Path, orders) -> dict[int, float] | None:
    """The cached {order: bits/char} in path, or None (missing, unreadable, other orders, not finite)."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        bits = {int(k): float(v) for k, v in raw["bits_per_char"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if sorted(bits) != list(orders) or not all(math.isfinite(v) for v in bits.values()):
        return None
    return bits


def _write_cache(path: Path, bits: dict[int, float]) -> None:
    """Keep bits in path (written to a temporary file, then renamed); a failure is ignored."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"version": VERSION, "bits_per_char": {str(k): v for k, v in sorted(bits.items())}}, f)
        os.replace(tmp, path)
    except OSError:
        pass


def split_of(config, n: int) -> tuple[int, int] | None:
    """(n_train, stop) of the held-out characters a TrainConfig's trainer scores in a corpus of n characters
    (its first eval_chars after the training part), or None when it holds nothing out."""
    from .corpus import train_length

    n_train = train_length(n, config.val_fraction)
    if n - n_train < 2:
        return None
    return n_train, min(n, n_train + config.eval_chars)


def beaten(held_out_bpc: float | None, bits: dict[int, float]) -> tuple[int, float] | None:
    """(order, its bits/char) of the best baseline that held_out_bpc is below, or None."""
    if held_out_bpc is None or not math.isfinite(held_out_bpc):
        return None
    below = [(v, k) for k, v in bits.items() if held_out_bpc < v]
    if not below:
        return None
    v, k = min(below)
    return k, v
