"""Responders: render replies from templates, queue them in the outbox, send them."""
