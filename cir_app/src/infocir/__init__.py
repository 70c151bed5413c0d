"""InfoCIR: explainable composed image retrieval (engine package; the Dash UI lives in ``infocir.ui``)."""

__version__ = "0.1.0"
