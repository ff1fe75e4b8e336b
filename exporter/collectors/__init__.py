"""Collectors: each reads stored state at scrape time and yields metric families."""
