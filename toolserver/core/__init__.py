"""Transport-neutral core: plugins, the registry, the shared schema and the executor."""
