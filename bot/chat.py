"""`ChatBot.ask()`: validate, classify, retrieve, compose, log. The one pipeline behind the UI, CLI and eval."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from chromadb.api import ClientAPI
from langchain_core.embeddings import Embeddings

from bot.answer.answerability import Answerability, Model, Scored
from bot.answer.compose import Composer
from bot.answer.retrieval import HybridRetriever
from bot.corpus.documents import Document, all_passages, load_knowledge
from bot.corpus.index import KnowledgeIndex, Progress, connect, sentence_id
from bot.corpus.library import Library
from bot.corpus.vocabulary import load_vocabulary
from bot.query import Query, QueryAnalyzer
from bot.reply import Category, Reply
from bot.safety import Safety, add_safety_pipes, clean_text, detect_language, replies
from bot.safety.learned import load_model
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
        documents: Sequence[Document],
        nlp: Language,
        safety: Safety | None = None,
        model: Model | None = None,
        store: Store | None = None,
        startup: Startup | None = None,
        learned_safety: bool = True,
    ) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.index = index
        self.documents = list(documents)
        self.nlp = nlp
        self.store = store
        self.library = Library(self.documents, nlp, load_vocabulary())
        if store is not None:
            store.public_names = self.library.public_names
        self.passages = self.library.passages
        # The safety layer knows the documents only through their own words and the front matter's copy.
        self.safety = safety or Safety(
            nlp,
            embeddings,
            # An alias's stop words ("and" of "chemo and stem cells") make nothing about the documents.
            set().union(self.library.words, *(a.split() for a in self.library.aliases)) - self.library.nlp_stop,
            settings.data_dir,
            subject=self.library.subject(),
            suggestions=self.library.suggestions(),
            learned=load_model(settings.embedding_model) if learned_safety else None,
        )
        self.startup = startup or Startup(len(self.passages), ())
        self.analyzer = QueryAnalyzer(nlp, embeddings, self.library)
        self.retriever = HybridRetriever(self.library, index)
        ids, matrix = index.sentence_vectors()
        by_id = {sentence_id(p, i): (p.id, i) for p in self.passages for i in range(len(p.sentences))}
        vectors = {by_id[sid]: matrix[row] for row, sid in enumerate(ids) if sid in by_id}
        self.model = model or Model.load()
        self.answerability = Answerability(self.library, vectors, self.model)
        self.composer = Composer(self.library, self.answerability)

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        embeddings: Embeddings | None = None,
        client: ClientAPI | None = None,
        nlp: Language | None = None,
        model: Model | None = None,
        store: Store | None = None,
        progress: Progress | None = None,
        learned_safety: bool = True,
    ) -> ChatBot:
        """Load the models, open Chroma, sync it with knowledge/, and open the log. Seconds, once per process.
        `learned_safety=False`: the safety layer without its fitted emergency score (what `fit-safety` fits beside)."""
        settings = settings or Settings()
        notices: list[str] = []
        if embeddings is None:
            from bot.corpus.embeddings import load_embeddings

            embeddings = load_embeddings(settings.embedding_model)
        if nlp is None:
            from bot.corpus.nlp import load_nlp

            nlp = load_nlp()
        add_safety_pipes(nlp)  # idempotent: the one pipeline reads entities, lemmas and ConText once per message
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
        if store is None and settings.log_conversations:
            from bot.triage.store import Store

            store = Store(settings.db_path)
        return cls(
            settings=settings,
            embeddings=embeddings,
            index=index,
            documents=documents,
            nlp=nlp,
            model=model,
            store=store,
            startup=Startup(len(passages), tuple(notices)),
            learned_safety=learned_safety,
        )

    @property
    def title(self) -> str:
        """The helper's name, from the knowledge folder (page heading, tab title)."""
        return self.library.app_title()

    @property
    def subject(self) -> str:
        """What the helper is about, in patients' words, from the knowledge folder."""
        return self.library.subject()

    @property
    def suggestions(self) -> tuple[str, ...]:
        """Questions to offer a newcomer (the page's starters, the greeting), from the knowledge folder."""
        return self.library.suggestions()

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
        language = detect_language(question)
        query = self.analyzer.analyse(question, history, language=language)
        verdict = self.safety.check(query.text, query.doc, query.sentence_vectors, language, history)
        if verdict.category is Category.EMERGENCY:
            return Reply(verdict.reply_text, Category.EMERGENCY, emergency=verdict.emergency, language=language)
        if verdict.category in (Category.LANGUAGE, Category.INJECTION, Category.OUT_OF_SCOPE, Category.GREETING):
            assert verdict.category is not None
            text = f"{verdict.reply_text}\n\n{replies.SUPPORT}" if verdict.support else verdict.reply_text
            return Reply(text, verdict.category, language=language, support=verdict.support)
        advice = verdict.category is Category.MEDICAL_ADVICE
        # Several questions in one message are answered one by one (safety has read the message whole); a request
        # for personal advice is declined as one.
        asked, told = ((), "") if advice else self.analyzer.questions(query.text)
        reply = self.answer_each(asked, told, history, language) if asked else self.answer(query, advice=advice)
        if verdict.safety_net:
            reply = replace(reply, answer=f"{reply.answer}\n\n{replies.SAFETY_NET}")
        if verdict.support:
            reply = replace(reply, answer=f"{reply.answer}\n\n{replies.SUPPORT}", support=True)
        return reply

    def scored(self, query: Query) -> list[Scored]:
        """Every candidate sentence of the retrieved paragraphs, most likely to answer first."""
        hits = self.retriever.retrieve(query, k=2 * self.settings.top_k)
        return self.answerability.score(query, hits)

    def answer_each(
        self, questions: Sequence[str], told: str, history: Sequence[Message], language: str = "en"
    ) -> Reply:
        """Each question of a message answered on its own, with what the message tells as its context and the
        questions before it as earlier turns ("... If it does, is that permanent?")."""
        asked = []
        for i, question in enumerate(questions):
            earlier = [*history, *({"role": "user", "content": q} for q in questions[:i])]
            query = self.analyzer.analyse(f"{told} {question}".strip(), earlier, language=language)
            asked.append((question, query, self.scored(query)))
        composed = self.composer.compose_parts(asked)
        return Reply(
            composed.answer,
            Category.ANSWERED if composed.supported else Category.NOT_IN_ARTICLE,
            composed.citations,
            composed.caveats,
            all_caveats=composed.all_caveats,
            language=language,
        )

    def answer(self, query: Query, *, advice: bool = False) -> Reply:
        """The answer from the documents (for a personal-advice request: the decline, then general facts)."""
        composed = self.composer.compose(
            query, self.scored(query), lead=replies.advice_text(len(self.documents)) if advice else "", advice=advice
        )
        if advice:
            category = Category.MEDICAL_ADVICE
        else:
            category = Category.ANSWERED if composed.supported else Category.NOT_IN_ARTICLE
        return Reply(
            composed.answer,
            category,
            composed.citations,
            composed.caveats,
            all_caveats=composed.all_caveats,
            language=query.language,
        )
