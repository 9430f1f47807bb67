"""A stand-in for Docker's embedded DNS, for running docker/Caddyfile outside compose: a UDP
server on loopback that answers A queries for the names it is given (a compose service name
resolves to one address per replica) and NXDOMAIN for anything else.

Written by hand (RFC 1035 §4.1, only the few fields a resolver's A query needs) because no
package on the machine serves DNS, and the test must not touch the network.
"""

from __future__ import annotations

import socket
import struct
import threading

A, IN = 1, 1


def question_end(packet: bytes) -> int:
    """Where the question section (one name, type, class) ends."""
    position = 12
    while packet[position] != 0:
        position += packet[position] + 1
    return position + 5


def question_name(packet: bytes) -> str:
    labels, position = [], 12
    while packet[position] != 0:
        length = packet[position]
        labels.append(packet[position + 1 : position + 1 + length].decode("ascii").lower())
        position += length + 1
    return ".".join(labels)


def answer(packet: bytes, records: dict[str, list[str]]) -> bytes:
    (query_id,) = struct.unpack("!H", packet[:2])
    end = question_end(packet)
    name = question_name(packet)
    qtype, _qclass = struct.unpack("!HH", packet[end - 4 : end])
    question = packet[12:end]
    if name not in records:
        return struct.pack("!HHHHHH", query_id, 0x8183, 1, 0, 0, 0) + question  # NXDOMAIN
    addresses = records[name] if qtype == A else []  # AAAA and others: no data
    body = b"".join(struct.pack("!HHHIH", 0xC00C, A, IN, 5, 4) + socket.inet_aton(address) for address in addresses)
    return struct.pack("!HHHHHH", query_id, 0x8180, 1, len(addresses), 0, 0) + question + body


class StubDNS:
    def __init__(self, records: dict[str, list[str]]) -> None:
        self.records = {name.rstrip(".").lower(): list(addresses) for name, addresses in records.items()}
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"
        self.queries: list[str] = []
        self._thread = threading.Thread(target=self._serve, name="stub-dns", daemon=True)

    def start(self) -> StubDNS:
        self._thread.start()
        return self

    def _serve(self) -> None:
        while True:
            try:
                packet, peer = self.socket.recvfrom(512)
            except OSError:
                return  # closed
            try:
                self.queries.append(question_name(packet))
                self.socket.sendto(answer(packet, self.records), peer)
            except (IndexError, struct.error, UnicodeDecodeError):
                continue  # not a query we understand: no answer, as a resolver would time out

    def stop(self) -> None:
        self.socket.close()
