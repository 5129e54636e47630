"""The live web console of the demo (the runtime that feeds it is :mod:`resonance.demo`).

The console is a small stdlib HTTP server (:mod:`resonance.console.server`) that serves
static assets shipped in this package (no CDN: the demo machine may be offline) and a
few JSON endpoints answered by a :class:`~resonance.console.provider.ConsoleProvider`.
The provider is the only thing that knows where metrics come from, so the server and
the browser code can be tested against a fake one.
"""
