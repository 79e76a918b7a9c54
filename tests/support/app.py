"""Launching the real Gradio app for tests: a free port on 127.0.0.1, Gradio's temp folder in pytest's."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from gradio_client import Client


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def use_test_temp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Point Gradio's temp folder inside pytest's, before the app is imported (Gradio reads it then).

    The same folder for every module of the session, since the app is imported once.
    """
    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.getbasetemp() / "gradio")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"


def launch_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str]:
    """Import the app and start it on a free port of 127.0.0.1; returns the module and its URL."""
    use_test_temp(tmp_path_factory)
    import app

    _, url, _ = app.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True
    )
    return app, url


def connect(url: str, downloads: Path) -> Client:
    """A `gradio_client` for the app at `url`, saving the files it receives under `downloads`."""
    from gradio_client import Client

    return Client(url, verbose=False, download_files=str(downloads))
