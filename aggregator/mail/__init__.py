"""The email side: ``digest`` (ISO weeks, what a reader's digest holds, rendering), ``delivery`` (one send per
reader and week, retried, never twice), ``mailer`` (SMTP and the message itself) and ``subscriptions`` (double
opt-in, signed links, preferences). It reads through ``store/`` (``store/mail.py``) and never imports the poll side.
"""
