"""The demo's operator views: the live web console, the terminal summary and the summary JSON.

The console is a small stdlib HTTP server (:mod:`resonance.console.server`) that serves
static assets shipped in this package (no CDN: the demo machine may be offline) and a
few JSON endpoints answered by a :class:`~resonance.console.provider.ConsoleProvider`.
The provider is the only thing that knows where metrics come from, so the server and
the browser code can be tested against a fake one.
"""
