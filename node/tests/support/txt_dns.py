#!/usr/bin/env python3
"""A minimal authoritative DNS server over UDP for tests: answers TXT queries
from a JSON zone file ({"name": ["text", ...]}), NXDOMAIN for anything else.
Long texts are split into 255-byte character-strings, as DNS requires.

Usage: txt_dns.py ZONE.json BIND_IP [PORT]   (prints "ready" once bound)
"""

import json
import socket
import struct
import sys


def read_name(packet, offset):
    labels = []
    while True:
        length = packet[offset]
        offset += 1
        if length == 0:
            return ".".join(labels).lower().rstrip("."), offset
        labels.append(packet[offset:offset + length].decode("ascii", "replace"))
        offset += length


def txt_rdata(text):
    raw = text.encode()
    chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
    return b"".join(bytes([len(c)]) + c for c in chunks)


def answer(packet, zone):
    ident, flags, qdcount = struct.unpack(">HHH", packet[:6])
    if qdcount != 1:
        return None
    name, end = read_name(packet, 12)
    qtype, _qclass = struct.unpack(">HH", packet[end:end + 4])
    question = packet[12:end + 4]
    records = zone.get(name)
    rcode = 0 if records is not None else 3
    answers = b""
    count = 0
    if records is not None and qtype in (16, 255):
        for text in records:
            rdata = txt_rdata(text)
            answers += struct.pack(">HHHIH", 0xC00C, 16, 1, 60, len(rdata)) + rdata
            count += 1
    reply_flags = 0x8000 | 0x0400 | (flags & 0x0100) | rcode  # QR, AA, RD copied
    return struct.pack(">HHHHHH", ident, reply_flags, 1, count, 0, 0) + question + answers


def main():
    zone = {k.lower().rstrip("."): v for k, v in json.load(open(sys.argv[1])).items()}
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 53
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((sys.argv[2], port))
    print("ready", flush=True)
    while True:
        packet, peer = sock.recvfrom(4096)
        try:
            reply = answer(packet, zone)
        except (IndexError, struct.error):
            reply = None
        if reply is not None:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    main()
