"""MinHash signatures and LSH banding against datasketch, on real documents."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash
from datasketch.lsh import MinHashLSH, _optimal_param

from beam_curation.filters.dedup.exact import normalize_text_exact, normalize_url, text_hash, url_hash
from beam_curation.filters.dedup.lsh import LSHParams, band_keys, bucket_keys, lsh_params, optimal_params
from beam_curation.filters.dedup.minhash import (MinHasher, ShingleConfig, estimate_jaccard, normalize_text,
                                                 normalized_bytes, shingle_spans, shingle_strings)
from conftest import SHARED_DATA

DATA = SHARED_DATA
GOLD = DATA / "extraction_dev" / "scrapinghub_gold.jsonl"

EDGE_CASES = [
    "",
    "   \n\t ",
    "one",
    "four words only here",
    "Ünïcödé — “quotes”, café (NFD) and 東京 text, with punctuation! Done? yes; no: maybe...",
    "a\u00a0non-breaking\u2003space and\r\nnewlines\n\nhere " * 3,
]


@pytest.fixture(scope="module")
def documents() -> list[str]:
    if not GOLD.exists():
        pytest.skip(f"real documents not found at {GOLD} (shared/data next to the repo)")
    with GOLD.open(encoding="utf-8") as f:
        texts = [json.loads(line)["articleBody"] for line in f]
    return texts[:40] + EDGE_CASES


def _datasketch(shingles: list[str], num_perm: int, seed: int) -> np.ndarray:
    m = MinHash(num_perm=num_perm, seed=seed)
    for s in shingles:
        m.update(s.encode("utf8"))
    return m.hashvalues


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "num_perm,seed,config",
    [
        (128, 1, ShingleConfig(ngram=5)),
        (64, 1, ShingleConfig(ngram=5)),
        (128, 42, ShingleConfig(ngram=13)),
        (64, 7, ShingleConfig(ngram=13)),
        (128, 3, ShingleConfig(ngram=5, unit="char")),
        (112, 1, ShingleConfig(ngram=5, punctuation="unicode", unicode_form="NFKC", lowercase=False)),
    ],
)
@pytest.mark.slow
def test_signatures_bit_identical_to_datasketch(documents, num_perm, seed, config):
    sigs = MinHasher(num_perm, seed, config).signatures(documents)
    assert sigs.shape == (len(documents), num_perm) and sigs.dtype == np.uint32
    for text, sig in zip(documents, sigs):
        expected = _datasketch(shingle_strings(text, config), num_perm, seed)
        np.testing.assert_array_equal(sig, expected)


@pytest.mark.shared_data
def test_batching_does_not_change_signatures(documents):
    hasher = MinHasher(64, 5, ShingleConfig(ngram=3, unit="char"))  # many shingles: crosses chunk boundaries
    batch = hasher.signatures(documents)
    one_by_one = np.stack([hasher.signature(t) for t in documents])
    np.testing.assert_array_equal(batch, one_by_one)


def test_shingle_definition():
    cfg = ShingleConfig(ngram=2)
    assert normalize_text("  Hello,  WORLD!\n It's   me. ", cfg) == "hello world its me"
    assert shingle_strings("Hello, WORLD! It's me.", cfg) == ["hello world", "world its", "its me"]
    assert shingle_strings("Hi!", ShingleConfig(ngram=5)) == ["hi"]  # short document: one shingle
    assert shingle_strings("?!", cfg) == []
    assert shingle_strings("abcd", ShingleConfig(ngram=3, unit="char")) == ["abc", "bcd"]
    # NFD splits accented letters into base + combining mark (RedPajama-V2's normal form).
    assert normalize_text("Café", cfg) == "cafe\u0301"
    data, starts, ends = shingle_spans("Café au lait, s'il vous plaît", ShingleConfig(ngram=3, unit="char"))
    assert [data[s:e].decode() for s, e in zip(starts, ends)] == shingle_strings(
        "Café au lait, s'il vous plaît", ShingleConfig(ngram=3, unit="char")
    )


def test_empty_document_signature_is_max():
    sig = MinHasher(16, 1).signature("")
    assert (sig == np.uint32(0xFFFFFFFF)).all()


@pytest.mark.parametrize("num_perm", [64, 112, 128])
def test_lsh_params_equal_datasketch(num_perm):
    thresholds = [0.5, 0.7, 0.8, 0.9, 1.0]
    params = lsh_params(thresholds, num_perm)
    for t, p in zip(thresholds, params):
        assert (p.bands, p.rows) == _optimal_param(t, num_perm, 0.5, 0.5)
    # RedPajama-V2's bandings at 128 permutations.
    if num_perm == 128:
        assert [(p.bands, p.rows) for p in params[1:]] == [(14, 9), (9, 13), (5, 25), (1, 128)]


@pytest.mark.parametrize("weight", [0.7, 0.8, 0.9])
def test_lsh_params_with_weights_equal_datasketch(weight):
    # dedup.false_negative_weight w chooses the banding datasketch's MinHashLSH(weights=(1 - w, w)) does.
    for t in (0.6, 0.7, 0.8):
        lsh = MinHashLSH(threshold=t, num_perm=128, weights=(1 - weight, weight))
        (p,) = lsh_params([t], 128, weight)
        assert (p.bands, p.rows) == (lsh.b, lsh.r)
    assert (lsh_params([0.7], 128, 0.9)[0].bands, lsh_params([0.7], 128, 0.9)[0].rows) == (20, 6)


@pytest.mark.shared_data
def test_band_keys_match_datasketch_buckets(documents):
    hasher = MinHasher(128, 1, ShingleConfig(ngram=5))
    sigs = hasher.signatures(documents[:5])
    b, r = optimal_params(0.7, 128)
    lsh = MinHashLSH(threshold=0.7, num_perm=128)
    keys = band_keys(sigs, LSHParams(0.7, b, r))
    for i, sig in enumerate(sigs):
        m = MinHash(num_perm=128, hashvalues=sig, scheme="affine32")
        lsh.insert(str(i), m)
        assert len(keys[i]) == b and all(len(k) == 4 * r for k in keys[i])
        for band, key in enumerate(keys[i]):
            assert str(i) in lsh.hashtables[band].get(key)


def test_estimate_jaccard():
    hasher = MinHasher(128, 1, ShingleConfig(ngram=1))
    a, b = hasher.signatures([" ".join(f"w{i}" for i in range(100)), " ".join(f"w{i}" for i in range(50, 150))])
    assert abs(estimate_jaccard(a, b) - 50 / 150) < 0.12
    assert estimate_jaccard(a, a) == 1.0


def test_exact_keys():
    assert normalize_text_exact("  Hello\u00a0 World\n") == "hello world"
    assert text_hash("Hello World") == text_hash("hello   world ") != text_hash("hello world!")
    assert normalize_url("HTTPS://www.Example.com:443/a/b/?utm_source=x&b=2&a=1#frag") == "example.com/a/b?a=1&b=2"
    assert url_hash("http://example.com/a/b?b=2&a=1") == url_hash("https://www.example.com/a/b/?a=1&b=2&fbclid=z")
    assert url_hash("http://example.com:8080/") != url_hash("http://example.com/")
    assert url_hash(None) is None and url_hash("not a url") is None


def _ascii_texts() -> list[str]:
    """Every ASCII character, in random runs: the separators str.split() knows and bytes.split() does not
    (\\x1c-\\x1f), vertical tab, form feed, punctuation, upper case."""
    rng = np.random.default_rng(5)
    texts = ["".join(chr(c) for c in range(128)), "A\x1cB\x1dC\x1eD\x1fE\x0bF\x0cG", "Hello, World!! a-b c_d", "!!!", ""]
    for _ in range(200):
        texts.append("".join(chr(c) for c in rng.integers(0, 128, int(rng.integers(0, 60)))))
    return texts


@pytest.mark.parametrize("config", [
    ShingleConfig(), ShingleConfig(ngram=3, unit="char"), ShingleConfig(punctuation="unicode", unicode_form="NFKC"),
    ShingleConfig(punctuation="keep", lowercase=False, unicode_form=None), ShingleConfig(ngram=1),
])
def test_ascii_fast_path_equals_the_unicode_path(config):
    """ASCII text is normalised in bytes: it must give what the str path gives, for every shingle setting."""
    for text in _ascii_texts():
        assert normalized_bytes(text, config) == normalize_text(text, config).encode("utf-8"), repr(text)
        data, starts, ends = shingle_spans(text, config)
        assert [data[s:e].decode("utf-8") for s, e in zip(starts, ends)] == shingle_strings(text, config), repr(text)


def test_exact_hash_ascii_fast_path_equals_the_unicode_path():
    import hashlib

    for text in _ascii_texts():
        expected = hashlib.blake2b(normalize_text_exact(text).encode("utf-8"), digest_size=16).digest()
        assert text_hash(text) == expected, repr(text)


def test_bucket_keys_equal_exactly_when_band_keys_are():
    """Bucket keys are 12-byte hashes of (threshold, band, band values): documents share one exactly when they
    share the band's datasketch key, and equal values in two bands or thresholds give different keys."""
    rng = np.random.default_rng(3)
    params = LSHParams(0.7, 20, 6)
    sigs = rng.integers(0, 2**32, (300, 128), dtype=np.uint32)
    sigs[100:200, :30] = sigs[:100, :30]  # bands 0-4 shared with the first hundred
    sigs[200:, 60:66] = sigs[200:, 0:6]  # band 10 holds band 0's values
    bands, buckets = band_keys(sigs, params), bucket_keys(sigs, params, 0)
    assert all(len(doc) == 20 and all(len(k) == 12 for k in doc) for doc in buckets)
    for i in range(20):
        by_band = {}
        for d in range(len(sigs)):
            by_band.setdefault(bands[d][i], set()).add(buckets[d][i])
        assert all(len(keys) == 1 for keys in by_band.values())  # equal band -> equal bucket
        assert len({next(iter(k)) for k in by_band.values()}) == len(by_band)  # different band -> different bucket
    assert all(buckets[d][10] != buckets[d][0] for d in range(200, 300))
    assert all(a != b for a, b in zip(bucket_keys(sigs, params, 1)[0], buckets[0]))  # another threshold
    assert bucket_keys(sigs[:7], params, 0) == buckets[:7]  # batching does not change keys
