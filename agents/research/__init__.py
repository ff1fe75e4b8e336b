"""Research agent: turns a firing alert into the content of an improvement proposal."""
