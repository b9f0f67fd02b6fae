"""Text transcoding through the C library's ``iconv(3)``: bytes to bytes in one pass.

Python's codecs decode CP949 into a ``str`` and encode that again as UTF-8: two passes and a
large intermediate object per chunk, on one core. ``iconv(3)`` converts the bytes directly (and
ctypes lets go of the GIL while it runs). Where the C library has no iconv or no converter for the
encoding, ``converter_to_utf8`` falls back on Python's codec, which gives the same bytes
(``tests/catalog/test_iconv.py`` checks every CP949 character and the error offsets).
"""

from __future__ import annotations

import codecs
import ctypes
import ctypes.util
import errno
import functools

_FAILED = ctypes.c_size_t(-1).value


@functools.cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name, use_errno=True)
        lib.iconv_open.restype = ctypes.c_void_p
        lib.iconv_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        lib.iconv.restype = ctypes.c_size_t
        pointer, size = ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)
        lib.iconv.argtypes = [ctypes.c_void_p, pointer, size, pointer, size]
        lib.iconv_close.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return lib


class Undecodable(Exception):
    """The input holds a byte sequence that is not text in the source encoding."""

    def __init__(self, offset: int):
        super().__init__(offset)
        self.offset = offset  # of the first byte of the bad sequence, from the start of the input


class Converter:
    """An incremental converter: feed chunks in order, get the converted bytes of each.

    A multibyte character cut at the end of one chunk is kept and finished by the next.
    """

    def __init__(self, lib, handle: int):
        self._lib = lib
        self._handle = handle
        self._pending = b""  # the start of a character cut at the end of the last chunk
        self._offset = 0  # input bytes consumed before ``_pending``
        self._out = ctypes.create_string_buffer(0)

    def convert(self, chunk: bytes, *, final: bool = False) -> bytes:
        data = self._pending + chunk if self._pending else chunk
        # Each input byte yields at most two bytes of UTF-8 for the double-byte encodings
        # converted here; the loop below copes with any other ratio as well.
        if len(self._out) < 2 * len(data) + 16:
            self._out = ctypes.create_string_buffer(2 * len(data) + 16)
        source = ctypes.c_char_p(data)  # kept alive while iconv reads it
        in_ptr = ctypes.c_void_p(ctypes.cast(source, ctypes.c_void_p).value)
        in_left = ctypes.c_size_t(len(data))
        parts = []
        while True:
            out_ptr = ctypes.c_void_p(ctypes.addressof(self._out))
            out_left = ctypes.c_size_t(len(self._out))
            result = self._lib.iconv(
                self._handle,
                ctypes.byref(in_ptr),
                ctypes.byref(in_left),
                ctypes.byref(out_ptr),
                ctypes.byref(out_left),
            )
            parts.append(ctypes.string_at(self._out, len(self._out) - out_left.value))
            error = ctypes.get_errno() if result == _FAILED else 0
            if error != errno.E2BIG:
                break
        consumed = len(data) - in_left.value
        if error == errno.EILSEQ or (error == errno.EINVAL and final):
            raise Undecodable(self._offset + consumed)
        if error not in (0, errno.EINVAL):
            raise OSError(error, "iconv failed")
        self._pending = data[consumed:]
        self._offset += consumed
        return b"".join(parts)

    def close(self) -> None:
        if self._handle is not None:
            self._lib.iconv_close(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_converter(source_encoding: str, target_encoding: str = "UTF-8") -> Converter | None:
    """A converter from ``source_encoding``, or None where the C library cannot provide one."""
    lib = _libc()
    if lib is None:
        return None
    handle = lib.iconv_open(target_encoding.encode("ascii"), source_encoding.encode("ascii"))
    if handle is None or handle == _FAILED:
        return None
    return Converter(lib, handle)


class CodecConverter:
    """``Converter``'s interface on Python's incremental decoder (decode to ``str``, encode)."""

    def __init__(self, source_encoding: str):
        self._decoder = codecs.getincrementaldecoder(source_encoding)()
        self._offset = 0

    def convert(self, chunk: bytes, *, final: bool = False) -> bytes:
        pending = len(self._decoder.getstate()[0])
        try:
            text = self._decoder.decode(chunk, final=final)
        except UnicodeDecodeError as exc:
            # exc.start counts from the bytes the decoder still held from the last chunk.
            raise Undecodable(self._offset - pending + exc.start) from None
        self._offset += len(chunk)
        return text.encode("utf-8")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def converter_to_utf8(source_encoding: str) -> Converter | CodecConverter:
    """The fastest converter to UTF-8 this machine has: iconv(3), else Python's codec."""
    return open_converter(source_encoding) or CodecConverter(source_encoding)
