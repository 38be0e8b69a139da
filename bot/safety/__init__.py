"""What must happen before any answer: emergencies, personal advice, manipulation, language."""
