"""Statements and the email outbox (built by the statements work; nothing here yet)."""
