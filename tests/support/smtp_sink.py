"""A real SMTP server (aiosmtpd, pinned in requirements-smtp.txt) for
penvio-sync's e-mail alert tests.

    python smtp_sink.py

Listens on 127.0.0.1 at a free port, prints "ready <port>" once listening,
then one JSON line per message received:
{"mail_from": ..., "rcpt_tos": [...], "data": "<the message>"}.
Stops when stdin closes (the test dropped it) or on SIGTERM.
"""

import json
import socket
import sys

from aiosmtpd.controller import Controller


class Recorder:
    async def handle_DATA(self, server, session, envelope):
        data = envelope.content.decode("utf-8", errors="replace")
        line = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos, "data": data}
        print(json.dumps(line), flush=True)
        return "250 Message accepted"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    port = free_port()
    controller = Controller(Recorder(), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"ready {port}", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
