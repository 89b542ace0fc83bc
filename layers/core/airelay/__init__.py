"""airelay: a serverless gateway that gives frontends safe, fast, cost-controlled access to AI."""

__version__ = "0.1.0"
