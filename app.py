"""Gradio app for the facial time-lapse (thin: all work lives in `pipeline/`)."""

from __future__ import annotations

import gradio as gr

with gr.Blocks(title="Facial time-lapse") as demo:
    gr.Markdown("# Facial time-lapse\nTurn photos taken years apart into a video of a face growing up and aging.")

if __name__ == "__main__":
    demo.launch()
