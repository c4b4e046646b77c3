"""Run the real scim2-server (PyPI, pinned in requirements-scim-server.txt)
shaped like Penvio's SCIM endpoint, for penvio-sync's integration tests.

    python scim2_server_launcher.py --token T [--token T2]

Serves http://127.0.0.1:<free port>/api/scim/v2/<org>/... where every <org>
is created empty on its first request, so each test uses an org of its own.
Prints "ready <base URL without org>" on stdout once listening.

Test-only extras (outside the SCIM prefix, no token):
  GET  /__requests         {"writes": n, "reads": n, "by_org": {...}}
  POST /__fail?status=S&count=N&method=M
                           answer the next N matching requests with status S
"""

import argparse
import json
import threading
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
        self.failures = []
        self.lock = threading.Lock()

    def org_app(self, name):
        with self.lock:
            if name not in self.orgs:
                self.orgs[name] = PenvioShapedOrg(
                    InMemoryStorage(), self.provider, bearer_tokens=self.tokens
                )
                self.counts[name] = {"writes": 0, "reads": 0}
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
            body = {"writes": writes, "reads": reads, "by_org": dict(self.counts)}
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
        rest = path[len(PREFIX):] if path.startswith(PREFIX + "/") else None
        org, _, tail = (rest or "").lstrip("/").partition("/")
        if not org:
            return self.json_reply(start_response, "404 Not Found", {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "404", "detail": "not under " + PREFIX + "/<org>"})
        app = self.org_app(org)
        with self.lock:
            self.counts[org]["writes" if method in WRITE_METHODS else "reads"] += 1
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
