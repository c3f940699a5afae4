"""The email adapter: SMTP and IMAP listeners, RFC 5322/MIME parsing, charsets, HTML to text,
quotes, bounces and robot headers. Its output is the channel-neutral ``InboundMessage``."""
