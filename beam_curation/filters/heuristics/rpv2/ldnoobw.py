"""``rps_doc_ldnoobw_words``: how many LDNOOBW list entries occur in the normalised words.

The "List of Dirty, Naughty, Obscene, and Otherwise Bad Words" (CC BY 4.0, bundled in
``beam_curation/filters/resources/ldnoobw/``, see its README) has one entry per line; an entry of ``k``
space-separated words matches every position where ``k`` consecutive normalised words, joined
by one space, equal it. Overlapping and nested matches all count (as RPv2's per-n n-gram scan
does), so ``"a b"`` and ``"a b c"`` both count at one position.

Entries are compared as written (only stripped), exactly as in RedPajama-V2: entries with ASCII
punctuation or uppercase letters, or with precomposed accents (the words are NFD), can never
match. RPv2 shipped lists for en, de, es, fr and it only; we use the bundled list of whatever
language the document has (28 languages). A language without a list scores 0.0, as does a text
without words. Languages written without spaces (ja, zh, th) rarely match, since matching is by
whole normalised words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

import numpy as np

from beam_curation.filters.heuristics.rpv2.document import DocumentView
from beam_curation.filters.heuristics.rpv2.registry import signal

__all__ = ["BlockList", "load_ldnoobw"]


@dataclass(frozen=True)
class BlockList:
    """One language's entries: single words, and multi-word entries keyed by their first word."""

    single: frozenset[str]
    multi: Mapping[str, tuple[tuple[str, ...], ...]]

    @classmethod
    def from_lines(cls, lines: list[str]) -> BlockList:
        single: set[str] = set()
        multi: dict[str, set[tuple[str, ...]]] = {}
        for line in lines:
            entry = line.strip()
            if not entry:
                continue
            if " " not in entry:
                single.add(entry)
            else:
                parts = tuple(entry.split(" "))
                multi.setdefault(parts[0], set()).add(parts)
        return cls(
            single=frozenset(single),
            multi=MappingProxyType({w: tuple(sorted(v)) for w, v in multi.items()}),
        )

    def count(self, doc: DocumentView) -> int:
        """Matches in the document's normalised words."""
        firsts = doc.first_positions
        id_counts = doc.id_counts
        hits = sum(int(id_counts[firsts[w]]) for w in self.single.intersection(firsts))
        starters = self.multi.keys() & firsts.keys()
        if starters:
            words = doc.normalized_words
            word_ids = doc.word_ids
            for first in starters:
                entries = self.multi[first]
                for i in np.flatnonzero(word_ids == firsts[first]).tolist():
                    for entry in entries:
                        if tuple(words[i : i + len(entry)]) == entry:
                            hits += 1
        return hits


def load_ldnoobw() -> Mapping[str, BlockList]:
    """Every bundled LDNOOBW list, language code (file stem) -> :class:`BlockList`."""
    folder = resources.files("beam_curation.filters") / "resources" / "ldnoobw"
    lists = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".txt"):
            # read_text translates \r\n and \r to \n, like RPv2's readlines().
            lines = entry.read_text(encoding="utf-8").split("\n")
            lists[entry.name[: -len(".txt")]] = BlockList.from_lines(lines)
    return MappingProxyType(lists)


@signal("rps_doc_ldnoobw_words", kind="doc", resource=load_ldnoobw)
def ldnoobw_words(doc: DocumentView, lists: Mapping[str, BlockList]) -> float:
    """Number of LDNOOBW entry matches (see the module docstring)."""
    block = lists.get(doc.language)
    if block is None or not doc.normalized_words:
        return 0.0
    return float(block.count(doc))
