"""The SQLite conversation log and staff triage queue, PII redaction, staff sign-in, the triage CLI."""
