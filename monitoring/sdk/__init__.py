"""Client side: what an LLM application imports to send traces to metamon."""
