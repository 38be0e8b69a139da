"""What must happen before any answer: emergencies, personal advice, manipulation, language.

The integrator's interface: `clean_text`, `detect_language`, `add_safety_pipes`, `Safety(...).check(...)` and the
`SafetyVerdict` it returns.
"""

from bot.safety.pipes import add_safety_pipes
from bot.safety.text import clean_text, detect_language
from bot.safety.triage import Safety, SafetyVerdict

__all__ = ["Safety", "SafetyVerdict", "add_safety_pipes", "clean_text", "detect_language"]
