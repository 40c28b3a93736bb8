"""Check that a file is a whole fastText model before fastText reads it.

fastText's loader trusts its input: on a truncated model it reads the word list past the end of the file
forever, growing memory until the machine runs out; random bytes fail only on the magic number. This walks the
file's layout (header, arguments, dictionary, the two matrices, dense or quantized; fastText's
`FastText::saveModel`), reading only the headers and the word list (memory-mapped) and seeking past the
matrices, and says what is wrong in one sentence. The labels are returned, so a caller can check its positive
label without loading the model.
"""

from __future__ import annotations

import mmap
import os
import struct

MAGIC = 793712314  # FASTTEXT_FILEFORMAT_MAGIC_INT32
VERSION = 12
ARGS_BYTES = 12 * 4 + 8  # twelve int32 arguments, then the sampling threshold (double)
KSUB = 256  # centroids per sub-quantizer (ProductQuantizer::ksub_)
MAX_WORD_BYTES = 1 << 16  # a fastText word longer than this is a sign of a corrupt file
ENTRY_BYTES = 9  # after each word's NUL: its count (int64), then its type (int8)


class ModelFileError(ValueError):
    """The file is not a whole fastText model."""


class _Reader:
    """Reads the file through a memory map: the word list is found with `find`, the matrices are skipped."""

    def __init__(self, data: mmap.mmap | bytes):
        self.data, self.pos, self.size = data, 0, len(data)

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > self.size:
            raise ModelFileError(f"truncated: the file ends inside the {what}")
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def skip(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise ModelFileError(f"truncated: the {what} needs {n:,} bytes more than the file holds")
        self.pos += n

    def int32(self, what: str) -> int:
        return struct.unpack("<i", self.take(4, what))[0]

    def int64(self, what: str) -> int:
        return struct.unpack("<q", self.take(8, what))[0]

    def flag(self, what: str) -> bool:
        return self.take(1, what) != b"\0"

    def labels(self, entries: int) -> list[str]:
        """Walk the word list (each word NUL-terminated, then its count, int64, and type, int8: 1 for a label);
        the labels. A tight loop: a classifier's list holds a word per vocabulary entry."""
        data, pos, size, find, labels = self.data, self.pos, self.size, self.data.find, []
        for _ in range(entries):
            end = find(b"\0", pos, pos + MAX_WORD_BYTES)
            if end < 0 or end + ENTRY_BYTES >= size:
                truncated = end >= 0 or size - pos < MAX_WORD_BYTES
                raise ModelFileError("truncated: the file ends inside the word list" if truncated
                                     else "corrupt: a word of the word list has no end")
            if data[end + ENTRY_BYTES] == 1:
                labels.append(data[pos:end].decode("utf-8", "replace"))
            pos = end + ENTRY_BYTES + 1
        self.pos = pos
        return labels


def _matrix(reader: _Reader, quantized: bool, what: str) -> None:
    if not quantized:
        rows, cols = reader.int64(what), reader.int64(what)
        if rows < 0 or cols < 0:
            raise ModelFileError(f"corrupt: the {what} has {rows} x {cols} cells")
        reader.skip(rows * cols * 4, what)
        return
    with_norms = reader.flag(what)
    rows, _cols = reader.int64(what), reader.int64(what)
    reader.skip(reader.int32(what), what)  # the codes
    _quantizer(reader, what)
    if with_norms:
        reader.skip(rows, what)  # norm codes
        _quantizer(reader, what)


def _quantizer(reader: _Reader, what: str) -> None:
    dim = reader.int32(what)
    for _ in range(3):  # nsubq, dsub, lastdsub
        reader.int32(what)
    if dim < 0:
        raise ModelFileError(f"corrupt: the {what}'s quantizer has dimension {dim}")
    reader.skip(dim * KSUB * 4, what)


def check_fasttext_file(path: str | os.PathLike[str]) -> list[str]:
    """The model's labels if `path` is a whole fastText model (.bin or quantized .ftz); else ModelFileError."""
    size = os.path.getsize(path)
    if size < 8:
        raise ModelFileError("not a fastText model (shorter than its header)")
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        reader = _Reader(data)
        if reader.int32("header") != MAGIC:
            raise ModelFileError("not a fastText model (wrong magic number)")
        version = reader.int32("header")
        if version > VERSION:
            raise ModelFileError(f"fastText file format version {version}, newer than this fastText's {VERSION}")
        reader.skip(ARGS_BYTES, "arguments")
        entries, _words, _labels = (reader.int32("dictionary") for _ in range(3))
        reader.int64("dictionary")  # tokens
        pruned = reader.int64("dictionary")
        if entries < 0 or pruned < -1:
            raise ModelFileError(f"corrupt: the dictionary says {entries} words")
        if entries * (ENTRY_BYTES + 2) > size - reader.pos:
            raise ModelFileError(f"truncated: the dictionary lists {entries:,} words, more than the file holds")
        labels = reader.labels(entries)
        reader.skip(max(pruned, 0) * 8, "dictionary")
        _matrix(reader, reader.flag("input matrix"), "input matrix")
        _matrix(reader, reader.flag("output matrix"), "output matrix")
        if reader.pos != size:
            raise ModelFileError(f"corrupt: {size - reader.pos:,} bytes after the end of the model")
    return labels
