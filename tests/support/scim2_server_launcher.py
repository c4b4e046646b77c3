"""Run the real scim2-server (PyPI, pinned in requirements-scim-server.txt)
shaped like Penvio's SCIM endpoint, for penvio-sync's integration tests.

    python scim2_server_launcher.py --token T [--token T2]

Serves http://127.0.0.1:<free port>/api/scim/v2/<org>/... where every <org>
is created empty on its first request, so each test uses an org of its own.
Prints "ready <base URL without org>" on stdout once listening.

Test-only extras (outside the SCIM prefix, no token):
  GET  /__requests         {"writes": n, "reads": n, "by_org": {...},
                            "read_times": {org: [...]}, "held": {org: n}}
  POST /__fail?status=S&count=N&method=M
                           answer the next N matching requests with status S
  POST /__hold?org=O&after=N[&apply=1]
                           once org O has taken N writes, hold every further
                           write unapplied until /__release (so a test can
                           kill its client at an exact point, however busy
                           the machine is); with apply=1 apply them and hold
                           only their answers (the client dies not knowing)
  POST /__release?org=O    answer the held writes 503, unapplied, and stop
                           holding; from then on every write to O with a
                           bearer token used while holding (the killed
                           client's, however late its last requests land) is
                           answered 503 unapplied too: the rerun that follows
                           uses another token
"""

import argparse
import json
import threading
import time
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.util import application_uri

from scim2_models import ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)

PREFIX = "/api/scim/v2"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class PenvioShapedOrg(BearerTokenApplication):
    """One org: the org URL itself is the SCIM root (no extra /v2)."""

    @staticmethod
    def get_base_url(environ):
        return application_uri(environ).rstrip("/")


class Router:
    """Routes /api/scim/v2/<org>/... to that org's application and keeps
    per-org request counts the tests read back."""

    def __init__(self, tokens):
        config = load_default_service_provider_config()
        config.authentication_schemes = [BEARER_TOKEN_SCHEME]
        self.provider = ScimProvider.from_discovery(
            load_default_schemas().values(),
            load_default_resource_types().values(),
            config=config,
        )
        self.tokens = tokens
        self.orgs = {}
        self.counts = {}
        # Arrival times (monotonic seconds) of each org's reads, so pacing
        # tests can look at the gaps between requests.
        self.read_times = {}
        self.failures = []
        # org -> [writes after which to hold, threading.Event, held count,
        #         Authorization headers of writes while the hold was armed,
        #         whether held writes are applied before their answer is held]
        self.holds = {}
        # org -> Authorization headers fenced off by a release
        self.fenced = {}
        self.lock = threading.Lock()

    def org_app(self, name):
        with self.lock:
            if name not in self.orgs:
                self.orgs[name] = PenvioShapedOrg(
                    InMemoryStorage(), self.provider, bearer_tokens=self.tokens
                )
                self.counts[name] = {"writes": 0, "reads": 0}
                self.read_times[name] = []
            return self.orgs[name]

    def json_reply(self, start_response, status, body):
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(data)))])
        return [data]

    def stats(self, start_response):
        with self.lock:
            writes = sum(c["writes"] for c in self.counts.values())
            reads = sum(c["reads"] for c in self.counts.values())
            body = {"writes": writes, "reads": reads, "by_org": dict(self.counts),
                    "read_times": dict(self.read_times),
                    "held": {org: hold[2] for org, hold in self.holds.items()}}
        return self.json_reply(start_response, "200 OK", body)

    def arm_failure(self, environ, start_response):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        failure = {
            "status": int(query.get("status", ["500"])[0]),
            "count": int(query.get("count", ["1"])[0]),
            "method": query.get("method", [None])[0],
        }
        with self.lock:
            self.failures.append(failure)
        return self.json_reply(start_response, "200 OK", failure)

    def arm_hold(self, environ, start_response):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        org = query.get("org", [""])[0]
        after = int(query.get("after", ["0"])[0])
        apply = query.get("apply", ["0"])[0] == "1"
        with self.lock:
            self.holds[org] = [after, threading.Event(), 0, set(), apply]
        return self.json_reply(start_response, "200 OK", {"org": org, "after": after})

    def release_hold(self, environ, start_response):
        org = parse_qs(environ.get("QUERY_STRING", "")).get("org", [""])[0]
        with self.lock:
            hold = self.holds.pop(org, None)
            if hold is not None:
                self.fenced.setdefault(org, set()).update(hold[3])
        if hold is not None:
            hold[1].set()
        return self.json_reply(start_response, "200 OK", {"org": org})

    def held_write(self, org, method, client):
        """What to do with a write: None (serve it), "drop" (it was held or
        fenced: answer it unapplied), or an Event (apply it, then hold the
        answer until the event is set)."""
        if method not in WRITE_METHODS:
            return None
        with self.lock:
            if client in self.fenced.get(org, ()):
                return "drop"
            hold = self.holds.get(org)
            if hold is None:
                return None
            hold[3].add(client)
            if self.counts[org]["writes"] < hold[0]:
                return None
            hold[2] += 1
            event = hold[1]
            if hold[4]:
                return event
        event.wait(600)
        return "drop"

    def apply_then_hold(self, app, environ, start_response, event):
        """Applies the write, then keeps its answer until the release: a
        client killed meanwhile never learns that it took."""
        answer = {}

        def capture(status, headers, exc_info=None):
            answer["status"], answer["headers"] = status, headers
            return lambda data: None

        body = b"".join(app(environ, capture))
        event.wait(600)
        start_response(answer["status"], answer["headers"])
        return [body]

    def scripted_failure(self, method):
        with self.lock:
            for failure in self.failures:
                if failure["count"] > 0 and failure["method"] in (None, method):
                    failure["count"] -= 1
                    return failure["status"]
        return None

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/__requests":
            return self.stats(start_response)
        if path == "/__fail":
            return self.arm_failure(environ, start_response)
        if path == "/__hold":
            return self.arm_hold(environ, start_response)
        if path == "/__release":
            return self.release_hold(environ, start_response)
        rest = path[len(PREFIX):] if path.startswith(PREFIX + "/") else None
        org, _, tail = (rest or "").lstrip("/").partition("/")
        if not org:
            return self.json_reply(start_response, "404 Not Found", {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "404", "detail": "not under " + PREFIX + "/<org>"})
        app = self.org_app(org)
        held = self.held_write(org, method, environ.get("HTTP_AUTHORIZATION"))
        if held == "drop":
            return self.json_reply(start_response, "503 Held", {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "503", "detail": "held by the test, not applied"})
        with self.lock:
            self.counts[org]["writes" if method in WRITE_METHODS else "reads"] += 1
            if method not in WRITE_METHODS:
                self.read_times[org].append(time.monotonic())
        if held is not None:
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + PREFIX + "/" + org
            environ["PATH_INFO"] = "/" + tail
            return self.apply_then_hold(app, environ, start_response, held)
        status = self.scripted_failure(method)
        if status is not None:
            return self.json_reply(start_response, f"{status} Scripted", {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": str(status), "detail": "scripted failure"})
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + PREFIX + "/" + org
        environ["PATH_INFO"] = "/" + tail
        return app(environ, start_response)


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Silent(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--token", action="append", default=[])
    args = parser.parse_args()
    with make_server("127.0.0.1", 0, Router(args.token), Server, Silent) as server:
        print(f"ready http://127.0.0.1:{server.server_port}{PREFIX}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
