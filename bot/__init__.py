"""HALT-MS patient-education chatbot."""
