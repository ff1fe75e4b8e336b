"""Outgoing notifications: SMTP delivery and the daily digest email."""
