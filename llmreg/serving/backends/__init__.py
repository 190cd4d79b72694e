"""Backends behind one interface (base.Backend): OpenAI-compatible upstream, local
transformers, vLLM in-process. `pool.BackendPool` picks one per resolved entry."""
