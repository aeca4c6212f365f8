"""A caching HTTP forward proxy in a page: http.server receives, urllib fetches.

Rust version: examples/http_proxy.rs (the library: src/proxy/), walked through in
docs/proxy.md.

    python3 http_proxy.py                      # listens on 127.0.0.1:8081
    curl -v -x http://127.0.0.1:8081 http://127.0.0.1:8080/

A client that uses a proxy sends it the whole URL (`GET http://host/path`), so
the handler's `self.path` is what urllib fetches. Each client gets a thread
(ThreadingHTTPServer), which blocks in `urlopen`, name lookup included: the
Rust proxy does the same work on one loop thread and sends only the lookup to
a worker thread. The cache is a dictionary that never expires or evicts, and
keeps any 200 without `no-store`: the Rust proxy's cache follows RFC 9111
(freshness, age, revalidation, Vary, a memory bound), refuses hosts not on its
allow-list, drops hop-by-hop headers, adds `Via`, and collapses simultaneous
misses into one upstream request. None of that is here.
"""

import argparse
import http.server
import urllib.error
import urllib.request

import course

cache = {}  # url -> (status, headers, body)

# Hop-by-hop headers describe one connection, not the message: never copied.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
              "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate"}


class Proxy(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if not self.path.startswith("http://"):
            self.send_error(400, "this is a proxy: ask for an absolute http:// URL")
            return
        if self.path in cache:
            status, headers, body = cache[self.path]
            state = "HIT"
        else:
            try:
                # Blocks this thread, name lookup included.
                with urllib.request.urlopen(self.path, timeout=10) as r:
                    status, headers, body = r.status, r.getheaders(), r.read()
            except urllib.error.HTTPError as e:
                status, headers, body = e.code, e.headers.items(), e.read()
            except OSError as e:
                self.send_error(502, f"cannot fetch: {e}")
                return
            cache_control = dict(headers).get("Cache-Control", "")
            if status == 200 and "no-store" not in cache_control:
                cache[self.path] = (status, headers, body)
            state = "MISS"
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("X-Cache", state)
        self.end_headers()
        self.wfile.write(body)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    course.add_address_args(parser, server=True)
    parser.set_defaults(port=8081)
    args = parser.parse_args()
    course.setup_logging()
    Proxy.server_version = "http_proxy.py"
    http.server.ThreadingHTTPServer.request_queue_size = args.backlog
    with http.server.ThreadingHTTPServer((args.host, args.port), Proxy) as server:
        course.log.info("listening on %s", course.format_addr(server.server_address))
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
