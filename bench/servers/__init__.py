"""The comparison servers of the benchmark, each an ASGI app served by uvicorn on its own."""
