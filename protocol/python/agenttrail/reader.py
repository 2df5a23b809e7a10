"""The bounded byte cursor the entry and frame decoders share."""

import struct


class Reader:
    """Cursor over data[pos:end] that never reads past `end`. A subclass says how running out
    of bytes is reported: `short_read(what)` raises the decoder's own error."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data, pos=0, end=None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def short_read(self, what):
        raise NotImplementedError

    def remaining(self):
        return self.end - self.pos

    def take(self, n, what):
        if n > self.end - self.pos:
            self.short_read(what)
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self, what):
        return self.take(1, what)[0]

    def u16(self, what):
        return struct.unpack(">H", self.take(2, what))[0]

    def u32(self, what):
        return struct.unpack(">I", self.take(4, what))[0]

    def u64(self, what):
        return struct.unpack(">Q", self.take(8, what))[0]

    def hash32(self, what):
        return self.take(32, what).hex()
