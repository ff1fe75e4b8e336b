"""A deterministic sample target app for the demo and the tests of the validation agent."""
