"""Two channels with no chat to answer into: the public web form (``form.py``, served on the
public HTTP server of ``web/server.py``) and phone calls staff log (``calls.py``).

Both commit one inbound-queue row (channel "web" or "phone") and their decoder
(``decoder.py``) turns it into a message *from the email address the person gave*: the
acknowledgement and every later reply go by email, and the address has exactly the
standing an unauthenticated mail from it would have (no more: the form proves nothing).
"""
