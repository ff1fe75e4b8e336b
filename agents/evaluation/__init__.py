"""The evaluation agent's evaluators: one per file under evaluators/, each with a kind and a direction."""
