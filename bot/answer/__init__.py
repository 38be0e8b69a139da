"""Answering a question from the documents: retrieval, answerability, composition, caveats."""
