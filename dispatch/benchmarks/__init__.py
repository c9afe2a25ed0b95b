"""Benchmarks of the whole service (real app, real HTTP, real database and bus), as opposed
to :mod:`dispatch.routing.bench`, which measures the travel-time provider alone.

:mod:`~dispatch.benchmarks.dispatch_bench`: recommendation latency and the end-to-end path
from a call taken over HTTP to the crew's assignment event (the entry point). It is built
from :mod:`.scratch` (a throw-away database), :mod:`.world` (seeded centre, fleet and
hospitals), :mod:`.server` (uvicorn in the same loop), :mod:`.events` (the crew's
subscription), :mod:`.load` (the calls sent), :mod:`.recommendation` and :mod:`.end_to_end`
(the two measurements) and :mod:`.report` (the JSON figures).
"""
