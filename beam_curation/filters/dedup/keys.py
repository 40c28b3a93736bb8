"""A document's dedup annotations (computed once, stored) and the clustering keys made from them.

Annotation keeps what only the text can give: the MinHash signature and the exact-text hash. Everything that
depends on dedup settings that users change between reruns (thresholds and so bands, exact/URL keys, the keep
policy, per-language buckets) is derived from those stored values at decision time, so changing them never
reads the text again.
"""

from __future__ import annotations

from hashlib import blake2b
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from beam_curation.filters.dedup.types import DedupConfig, DedupDoc, keep_rank
from beam_curation.filters.dedup.exact import text_hash, url_hash
from beam_curation.filters.dedup.lsh import bucket_keys, lsh_params
from beam_curation.filters.dedup.minhash import MAX_HASH32, MinHasher, ShingleConfig


class DedupKeyer:
    def __init__(self, config: DedupConfig):
        self._config = config
        self._params = lsh_params(config.all_thresholds(), config.num_perm, config.false_negative_weight)
        self._hasher: Optional[MinHasher] = None

    @property
    def params(self):
        return self._params

    def annotate(self, texts: Iterable[str]) -> list[tuple[bytes, Optional[bytes], bool]]:
        """Per text: (exact-text hash, signature bytes or None without MinHash, has shingles)."""
        texts = list(texts)
        hashes = [text_hash(t) for t in texts]
        if not self._config.minhash:
            return [(h, None, False) for h in hashes]
        if self._hasher is None:
            c = self._config
            self._hasher = MinHasher(c.num_perm, c.seed, ShingleConfig(
                ngram=c.ngram, unit=c.ngram_unit, lowercase=c.lowercase, punctuation=c.punctuation,
                unicode_form=c.unicode_form))
        sigs = self._hasher.signatures(texts)
        shingled = ~(sigs == MAX_HASH32).all(axis=1)
        return [(h, sigs[i].tobytes(), bool(shingled[i])) for i, h in enumerate(hashes)]

    def bands(self, signatures: Sequence[Optional[bytes]]) -> list[tuple]:
        """Per signature (None: none), its bucket keys per threshold: what :meth:`doc` takes as `bands`, hashed
        for a whole batch at once."""
        out: list[tuple] = [()] * len(signatures)
        present = [i for i, s in enumerate(signatures) if s is not None]
        if not self._config.minhash or not present:
            return out
        sig = np.frombuffer(b"".join(signatures[i] for i in present), dtype=np.uint32).reshape(len(present), -1)
        per_threshold = [bucket_keys(sig, params, t) for t, params in enumerate(self._params)]
        for k, i in enumerate(present):
            out[i] = tuple(keys[k] for keys in per_threshold)
        return out

    def doc(self, node: int, doc_id: str, text_chars: int, quality_score: Optional[float], exact_hash: bytes,
            url: Optional[str], signature: Optional[bytes], shingled: bool, language: Optional[str] = None,
            source: Optional[str] = None, keep_value: Any = None, bands: Optional[tuple] = None) -> DedupDoc:
        """The clustering record of one document from its stored annotations; with `per_language`, every key
        is made the language's own (a missing language is a language of its own, the empty one). `bands`: the
        signature's entry of :meth:`bands`, when the caller hashed its batch at once."""
        c = self._config
        exact = []
        if c.exact:
            exact.append(b"t" + exact_hash)
        if c.url:
            h = url_hash(url)
            if h is not None:
                exact.append(b"u" + h)
        if not (c.minhash and signature is not None):
            bands = ()
        elif bands is None:
            bands = self.bands([signature])[0]
        if c.per_language:
            exact = [key[:1] + language_key(key[1:], language) for key in exact]  # kind byte kept
            bands = tuple(tuple(language_key(key, language) for key in keys) for keys in bands)
        return DedupDoc(node, doc_id, keep_rank(c.keep, text_chars, quality_score, source, keep_value), tuple(exact), bands,
                        signature if c.verify_jaccard else None, shingled and bool(bands))

    def band_signatures(self, signature: bytes) -> list[list[bytes]]:
        """RedPajama-V2's published band signatures of one document, one list per threshold (minhash/)."""
        from beam_curation.filters.dedup.lsh import band_keys

        sig = np.frombuffer(signature, dtype=np.uint32)[None, :]
        return [band_keys(sig, params)[0] for params in self._params]


def language_key(key: bytes, language: Optional[str]) -> bytes:
    """`key` made specific to `language`, with the same width: two documents share the new key exactly when
    they shared `key` and have the same language (barring a 2^-96 chance for 12-byte keys)."""
    return blake2b((language or "").encode("utf-8") + b"\0" + key, digest_size=len(key)).digest()
