"""A minimal D-Bus client speaking the wire protocol itself (no python3-dbus
on our machines): SASL EXTERNAL, Hello, method calls whose arguments are
strings and unsigned ints, replies whose first argument is a string or an
unsigned int.  Enough for the fault tests to call virtlabd with what
virtlabctl would refuse to send (an empty spec, a 10 MB field name) and to
open a hundred bus connections from one process.  Blocking (Conn) and
asyncio (AsyncConn) flavours share the marshalling."""
import asyncio
import itertools
import os
import socket
import struct

METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4
F_PATH, F_INTERFACE, F_MEMBER, F_ERROR_NAME, F_REPLY_SERIAL, F_DESTINATION, F_SENDER, F_SIGNATURE = range(1, 9)


def _pad(buf, align):
    buf.extend(b"\0" * (-len(buf) % align))


def _put(buf, code, value):
    """Appends one basic value of type code ('s', 'o', 'g', 'u', 'y')."""
    if code in "so":
        _pad(buf, 4)
        data = value.encode() if isinstance(value, str) else value
        buf.extend(struct.pack("<I", len(data)) + data + b"\0")
    elif code == "g":
        data = value.encode()
        buf.extend(struct.pack("<B", len(data)) + data + b"\0")
    elif code == "u":
        _pad(buf, 4)
        buf.extend(struct.pack("<I", value))
    elif code == "y":
        buf.extend(struct.pack("<B", value))
    else:
        raise ValueError(f"type {code} not supported")


def build_call(serial, dest, path, iface, member, sig="", args=()):
    body = bytearray()
    for code, value in zip(sig, args):
        _put(body, code, value)
    fields = bytearray()
    for fcode, tcode, value in ((F_PATH, "o", path), (F_INTERFACE, "s", iface), (F_MEMBER, "s", member),
                                (F_DESTINATION, "s", dest), (F_SIGNATURE, "g", sig)):
        if value is None or (fcode == F_SIGNATURE and not value):
            continue
        _pad(fields, 8)
        fields.extend(struct.pack("<B", fcode))
        _put(fields, "g", tcode)
        _put(fields, tcode, value)
    head = bytearray(struct.pack("<cBBBII", b"l", METHOD_CALL, 0, 1, len(body), serial))
    head.extend(struct.pack("<I", len(fields)))
    head.extend(fields)
    _pad(head, 8)
    return bytes(head + body)


def _get(data, off, code):
    if code in "so":
        off += -off % 4
        n, = struct.unpack_from("<I", data, off)
        return data[off + 4:off + 4 + n].decode(errors="replace"), off + 5 + n
    if code == "g":
        n = data[off]
        return data[off + 1:off + 1 + n].decode(), off + 2 + n
    if code == "u":
        off += -off % 4
        return struct.unpack_from("<I", data, off)[0], off + 4
    if code == "y":
        return data[off], off + 1
    raise ValueError(f"type {code} not supported")


def message_length(head16):
    """Total length of a message from its first 16 bytes."""
    body_len, _, fields_len = struct.unpack_from("<III", head16, 4)
    return 16 + fields_len + (-(16 + fields_len) % 8) + body_len


def parse(msg):
    """(type, header fields dict, first body argument or None)."""
    mtype = msg[1]
    body_len, serial, fields_len = struct.unpack_from("<III", msg, 4)
    fields, off, end = {}, 16, 16 + fields_len
    while off < end:
        off += -off % 8
        code = msg[off]
        sig, off = _get(msg, off + 1, "g")
        fields[code], off = _get(msg, off, sig)
    off = end + (-end % 8)
    sig = fields.get(F_SIGNATURE, "")
    first = _get(msg, off, sig[0])[0] if sig and sig[0] in "sogu" else None
    return mtype, fields, first


class DBusError(Exception):
    def __init__(self, name, message):
        super().__init__(f"{name}: {message}")
        self.name, self.message = name, message


def _auth_line():
    return b"\0AUTH EXTERNAL " + str(os.geteuid()).encode().hex().encode() + b"\r\n"


def _unix_path(address):
    if not address.startswith("unix:path="):
        raise ValueError(f"only unix:path= addresses: {address}")
    return address[len("unix:path="):].split(",")[0]


class Conn:
    """A blocking connection."""

    def __init__(self, address, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(_unix_path(address))
        self.sock.sendall(_auth_line())
        line = self._read_line()
        if not line.startswith(b"OK"):
            raise OSError(f"D-Bus auth refused: {line!r}")
        self.sock.sendall(b"BEGIN\r\n")
        self.serials = itertools.count(1)
        self.buf = b""
        self.unique = self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello")

    def _read_line(self):
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = self.sock.recv(1)
            if not chunk:
                raise OSError("bus closed during auth")
            data += chunk
        return data

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise OSError("bus closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def call(self, dest, path, iface, member, sig="", *args):
        serial = next(self.serials)
        self.sock.sendall(build_call(serial, dest, path, iface, member, sig, args))
        while True:
            head = self._read(16)
            msg = head + self._read(message_length(head) - 16)
            mtype, fields, first = parse(msg)
            if fields.get(F_REPLY_SERIAL) != serial:
                continue  # a signal (NameAcquired) or someone else's reply
            if mtype == ERROR:
                raise DBusError(fields.get(F_ERROR_NAME), first)
            return first

    def close(self):
        self.sock.close()


class AsyncConn:
    """An asyncio connection: one call at a time."""

    @classmethod
    async def open(cls, address):
        self = cls()
        self.reader, self.writer = await asyncio.open_unix_connection(_unix_path(address))
        self.writer.write(_auth_line())
        line = await self.reader.readuntil(b"\r\n")
        if not line.startswith(b"OK"):
            raise OSError(f"D-Bus auth refused: {line!r}")
        self.writer.write(b"BEGIN\r\n")
        self.serials = itertools.count(1)
        self.unique = await self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello")
        return self

    async def call(self, dest, path, iface, member, sig="", *args):
        serial = next(self.serials)
        self.writer.write(build_call(serial, dest, path, iface, member, sig, args))
        await self.writer.drain()
        while True:
            head = await self.reader.readexactly(16)
            msg = head + await self.reader.readexactly(message_length(head) - 16)
            mtype, fields, first = parse(msg)
            if fields.get(F_REPLY_SERIAL) != serial:
                continue
            if mtype == ERROR:
                raise DBusError(fields.get(F_ERROR_NAME), first)
            return first

    def close(self):
        self.writer.close()
