"""Tools the chat model may call, run on the server: the built-in ones over airelay's own capabilities, and an
operator's from the module named in TOOLS_MODULE."""
