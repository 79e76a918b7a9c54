"""Facial time-lapse pipeline: photos in, an ordered set of aligned faces and a video out.

The same code serves the command line (`python -m pipeline`), the Gradio app
(`app.py`) and the tests.
"""

from __future__ import annotations

__version__ = "0.1.0"
