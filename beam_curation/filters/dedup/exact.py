"""Keys for exact deduplication: a hash of normalised text and a normalised URL.

Text normalisation (for "same document modulo formatting"): Unicode NFKC, ``str.casefold``, every
whitespace run collapsed to one space, stripped. Two texts with equal keys differ only in case,
whitespace, and compatibility forms of characters.

URL normalisation (for "same page fetched twice"): scheme ignored (http and https are the same page),
host lower-cased without a leading ``www.`` and without a default port (80/443), empty path and a
trailing ``/`` dropped, fragment dropped, tracking parameters (``utm_*``, ``fbclid``, ``gclid``,
``mc_cid``, ``mc_eid``, ``_ga``) dropped and the remaining query parameters sorted.
"""

from __future__ import annotations

import hashlib
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit

from beam_curation.filters.dedup.minhash import ASCII_SEPARATORS_TO_SPACE

_TRACKING_PARAMS = frozenset({"fbclid", "gclid", "mc_cid", "mc_eid", "_ga", "yclid", "msclkid"})


def normalize_text_exact(text: str) -> str:
    """The text as compared for exact duplicates."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def text_hash(text: str) -> bytes:
    """16-byte BLAKE2b digest of :func:`normalize_text_exact` (collision odds ~2^-64 at 10^10 docs). ASCII text
    stays in bytes: NFKC of ASCII is itself and its case folding is lower-casing."""
    if text.isascii():
        data = b" ".join(text.encode("ascii").translate(ASCII_SEPARATORS_TO_SPACE).lower().split())
    else:
        data = normalize_text_exact(text).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).digest()


def normalize_url(url: str) -> str | None:
    """Canonical form of ``url`` for exact-URL dedup, or None when it has no host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        return None
    if host.startswith("www."):
        host = host[4:]
    if port is not None and port not in (80, 443):
        host = f"{host}:{port}"
    path = parts.path or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING_PARAMS
    ]
    query.sort()
    q = urlencode(query)
    return f"{host}{path}" + (f"?{q}" if q else "")


def url_hash(url: str | None) -> bytes | None:
    """16-byte BLAKE2b digest of :func:`normalize_url`, or None when the URL is missing or has no host."""
    if not url:
        return None
    norm = normalize_url(url)
    if norm is None:
        return None
    return hashlib.blake2b(norm.encode("utf-8", "surrogatepass"), digest_size=16).digest()
