"""UT1-style domain blocklists and RedPajama-V2's `rps_doc_ut1_blacklist` category id.

A UT1 list is a folder per category (`adult/domains`, `phishing/domains`, ...; a `blacklists/` level above
them is accepted). RedPajama-V2 gives each *combination* of the configured categories an id: combinations
enumerated by size, then in lexicographic order of the sorted category names, counted from 0. The id of a
domain's combination is computed here arithmetically, so any number of categories works. A URL's host is
looked up as it is and then by its parent domains (`a.b.example.com` -> `b.example.com` -> `example.com`),
as UT1's own proxy filters match; a host on no list gives None.
"""

from __future__ import annotations

from math import comb
from pathlib import Path
from typing import Iterable, Mapping
from urllib.parse import urlsplit


def combination_id(chosen: Iterable[str], categories: list[str]) -> int:
    """RedPajama-V2's id of the combination `chosen` among all non-empty combinations of `categories`."""
    ordered = sorted(categories)
    positions = sorted(ordered.index(c) for c in set(chosen))
    n, k = len(ordered), len(positions)
    if k == 0:
        raise ValueError("an empty combination has no id")
    index = sum(comb(n, r) for r in range(1, k))  # all smaller combinations come first
    previous = -1
    for i, position in enumerate(positions):  # lexicographic rank among k-combinations
        for skipped in range(previous + 1, position):
            index += comb(n - skipped - 1, k - i - 1)
        previous = position
    return index


def url_host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url if "//" in url else f"//{url}").hostname
    except ValueError:
        return None
    return host.rstrip(".").lower() if host else None


class DomainBlocklist:
    def __init__(self, domain_categories: Mapping[str, frozenset[str]], categories: list[str]):
        self._domains = dict(domain_categories)
        self.categories = sorted(categories)
        self._ids: dict[frozenset[str], int] = {}

    @classmethod
    def load(cls, root: str | Path, categories: Iterable[str] | None = None) -> "DomainBlocklist":
        """Read `<root>/[blacklists/]<category>/domains`; `categories` limits which (default: all found)."""
        root = Path(root)
        if (root / "blacklists").is_dir():
            root = root / "blacklists"
        found = sorted(p.name for p in root.iterdir() if (p / "domains").is_file())
        wanted = sorted(set(categories)) if categories else found
        missing = [c for c in wanted if c not in found]
        if missing:
            raise FileNotFoundError(f"no {missing[0]}/domains under {root}")
        domains: dict[str, set[str]] = {}
        for category in wanted:
            for line in (root / category / "domains").read_text(encoding="utf-8", errors="replace").splitlines():
                domain = line.strip().lower().rstrip(".")
                if domain and not domain.startswith("#"):
                    domains.setdefault(domain, set()).add(category)
        return cls({d: frozenset(c) for d, c in domains.items()}, wanted)

    def categories_of(self, url: str | None) -> frozenset[str] | None:
        host = url_host(url)
        while host:
            found = self._domains.get(host)
            if found is not None:
                return found
            _, _, host = host.partition(".")
        return None

    def category_id(self, url: str | None) -> int | None:
        """`rps_doc_ut1_blacklist`: the id of the URL's category combination, or None when not listed."""
        found = self.categories_of(url)
        if found is None:
            return None
        if found not in self._ids:
            self._ids[found] = combination_id(found, self.categories)
        return self._ids[found]
