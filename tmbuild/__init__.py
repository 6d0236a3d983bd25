"""tmbuild: a static-site generator for Teachable Machine image classifiers."""

__version__ = "0.1.0"
