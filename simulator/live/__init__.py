"""The living city: a gentle day played in real time against a running server, for the
demo and for anyone who wants a control room with work on it (``python -m simulator live``).

Unlike ``simulator.city``, which measures policies in virtual time, this plays at the
wall clock, forever (or for ``--minutes``), next to the people at the screens: a crew
follows whatever assignment its unit has, whoever made it, and the simulated dispatcher
leaves a new call to the humans for a while before it sends the recommended unit itself.
It talks to the server only through the public API, as every client does.
"""
