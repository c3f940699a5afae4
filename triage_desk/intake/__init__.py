"""Intake: listeners and normalisation. Every channel becomes one ``InboundMessage``."""
