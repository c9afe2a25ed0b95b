"""Emergency dispatch and patient-transport coordination."""

__version__ = "0.1.0"
