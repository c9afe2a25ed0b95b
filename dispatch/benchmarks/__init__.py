"""Benchmarks of the whole service (real app, real HTTP, real database and bus), as opposed
to :mod:`dispatch.routing.bench`, which measures the travel-time provider alone.

:mod:`~dispatch.benchmarks.dispatch_bench`: recommendation latency and the end-to-end path
from a call taken over HTTP to the crew's assignment event.
"""
