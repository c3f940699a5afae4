"""Telegram as one intake adapter: the poller that commits updates to the inbound queue
before confirming them (``poller.py``), and the decoder that turns a queued update into the
normalised ``InboundMessage`` (``decoder.py``). The core never imports this package."""
