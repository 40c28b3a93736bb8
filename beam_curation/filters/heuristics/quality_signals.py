"""All configured quality-signal groups for one document, in the order the published recipes apply them.

FineWeb computes the Gopher signals on the extracted text, then C4's line filter removes lines, and the C4
document checks and FineWeb's signals read the text that is left. RedPajama-V2's signals are stored as spans
over the output text, so they too read the text after any line removal. One call does all of it, tokenising
with each group's own tokenizer once.

The `fineweb2` group is FineWeb-2's version of the same three DataTrove filters (no C4): words split by the
document language's own tokeniser and counted against that language's stop words (beam_curation.filters.heuristics.fineweb2). It
writes the same column names as `gopher_repetition`, `fineweb` and `gopher_quality`, so it replaces them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

GROUPS = ("rpv2", "gopher_repetition", "gopher_quality", "c4", "fineweb", "fineweb2")
ENGLISH_WORD_GROUPS = frozenset({"gopher_repetition", "gopher_quality", "c4", "fineweb"})


@dataclass(frozen=True)
class C4Options:
    """DataTrove's C4QualityFilter switches (FineWeb turns `filter_no_terminal_punct` off)."""

    filter_no_terminal_punct: bool = True
    # The line filter refines the text that every later stage reads and that documents/ holds, in either mode
    # (so annotations serve both); false: the text is left whole and only the removals are recorded.
    remove_lines: bool = True
    remove_citations: bool = True
    min_words_per_line: int = 3
    max_word_length: int = 1000


@dataclass
class SignalResult:
    signals: dict[str, Any]
    text: str  # the output text: after C4's line removal when that applies, else the input text
    removed_lines: list[tuple[int, int, str]] = field(default_factory=list)  # spans over the input text


class QualitySignals:
    def __init__(self, groups: Iterable[str] = ("rpv2",), rpv2_names: Iterable[str] | None = None,
                 c4: C4Options = C4Options()):
        """With `c4.remove_lines` the output text is C4's line-filtered text; otherwise the text is left whole
        and only the removals C4 would make are reported."""
        self.groups = tuple(groups)
        self._remove_lines = c4.remove_lines
        unknown = [g for g in self.groups if g not in GROUPS]
        if unknown:
            raise ValueError(f"unknown signal group {unknown[0]!r} (known: {', '.join(GROUPS)})")
        clash = sorted(ENGLISH_WORD_GROUPS.intersection(self.groups))
        if "fineweb2" in self.groups and clash:
            raise ValueError(f"signal group fineweb2 computes FineWeb-2's versions of the gopher and fineweb "
                             f"columns per language and has no C4 step: use it instead of {', '.join(clash)}")
        self._c4 = c4
        self._rpv2 = None
        if "rpv2" in self.groups:
            from beam_curation.filters.heuristics.rpv2 import SignalComputer

            self._rpv2 = SignalComputer(rpv2_names)
        self._words = None  # DataTrove's English tokenizer, loaded on first use (spaCy takes a second)

    @property
    def _tokenizer(self):
        if self._words is None and ENGLISH_WORD_GROUPS.intersection(self.groups):
            from beam_curation.filters.text.word_tokens import default_tokenizer

            self._words = default_tokenizer()
        return self._words

    def warm_up(self) -> None:
        """Load the tokenizer now rather than on the first document (a worker does this while its extraction
        child starts, instead of while the child waits for its next batch)."""
        _ = self._tokenizer

    def names(self) -> list[tuple[str, str]]:
        """(name, kind) of every signal `compute` returns, kind "doc" or "lines", in its order (each group
        declares its names; nothing is tokenised)."""
        from beam_curation.filters.heuristics import c4
        from beam_curation.filters.heuristics import fineweb2
        from beam_curation.filters.heuristics import fineweb_quality
        from beam_curation.filters.heuristics import gopher_quality
        from beam_curation.filters.heuristics import gopher_repetition
        from beam_curation.filters.heuristics.rpv2 import SIGNAL_KINDS

        declared = {"gopher_repetition": gopher_repetition.SIGNAL_NAMES, "gopher_quality": gopher_quality.SIGNAL_NAMES,
                    "c4": c4.SIGNAL_NAMES, "fineweb": fineweb_quality.SIGNAL_NAMES,
                    "fineweb2": fineweb2.SIGNAL_NAMES}
        names = [n for group in GROUPS[1:] if group in self.groups for n in declared[group]]
        if self._rpv2 is not None:
            names += self._rpv2.names
        return [(name, SIGNAL_KINDS.get(name, "doc")) for name in names]


    def compute(self, text: str, language: str) -> SignalResult:
        signals: dict[str, Any] = {}
        words = self._tokenizer.words(text) if self._tokenizer is not None else None
        if "gopher_repetition" in self.groups:
            from beam_curation.filters.heuristics.gopher_repetition import gopher_repetition_signals

            signals.update(gopher_repetition_signals(text, words=words))
        if "gopher_quality" in self.groups:
            from beam_curation.filters.heuristics.gopher_quality import gopher_quality_signals

            signals.update(gopher_quality_signals(text, words=words))
        after, removed, word_count = text, [], None
        if "c4" in self.groups:
            from beam_curation.filters.heuristics.c4 import c4_filter_lines

            c4 = c4_filter_lines(text, filter_no_terminal_punct=self._c4.filter_no_terminal_punct,
                                 remove_citations=self._c4.remove_citations,
                                 min_words_per_line=self._c4.min_words_per_line,
                                 max_word_length=self._c4.max_word_length, tokenizer=self._tokenizer,
                                 prefetch=False)
            signals.update(c4.signals)
            after, removed, word_count = c4.text, c4.removed, c4.word_count
        if "fineweb" in self.groups:
            from beam_curation.filters.heuristics.fineweb_quality import fineweb_quality_signals

            if word_count is None:
                word_count = len(self._tokenizer.words(after))
            signals.update(fineweb_quality_signals(after, word_count=word_count))
        if "fineweb2" in self.groups:  # per language: the language's words and stop words
            from beam_curation.filters.heuristics.fineweb2 import fineweb2_signals

            signals.update(fineweb2_signals(text, language))
        out_text = after if self._remove_lines else text
        if self._rpv2 is not None:
            signals.update(self._rpv2.compute(out_text, language))
        return SignalResult(signals=signals, text=out_text, removed_lines=removed)


@lru_cache(maxsize=32)
def signal_names(groups: tuple[str, ...], rpv2_names: tuple[str, ...] | None, c4: C4Options
                 ) -> tuple[tuple[str, str], ...]:
    """`QualitySignals(groups, rpv2_names, c4).names()`, once per process for the same arguments."""
    return tuple(QualitySignals(groups, rpv2_names, c4).names())
