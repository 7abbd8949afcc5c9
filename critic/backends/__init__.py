"""Model backends: the protocol implementations (llama.cpp, OpenAI-compatible HTTP, cache,
scripted test doubles) and the pool that opens each model once."""
