"""Non-UI logic of the Gradio app: review, edits, scan cache, rendering and temp files."""
