"""The fixed texts safety replies with: short, no article content, the one thing that matters for the kind.

Texts that must name what the bot is about take `subject` (the caller's words for its knowledge folder).
"""

from __future__ import annotations

from collections.abc import Sequence

# What to do for each kind of emergency, after "call 911". Kinds are those of data/concepts.yaml.
_EXTRA = {
    "suicide": "You can also call or text **988** (Suicide & Crisis Lifeline, US) any time, day or night. "
    "If you can, stay with someone you trust. You do not have to go through this alone.",
    "poisoning": "For a poisoning, call **Poison Control at 1-800-222-1222** (US) if the person is awake and "
    "breathing; call 911 first if they collapse, have a seizure, have trouble breathing or cannot be woken.",
    "post_treatment": "After a transplant or chemotherapy, a fever or feeling shivery or unwell can be serious "
    "within hours: **call your transplant team's day-or-night number now**, or go to the emergency department; call "
    "911 if the person is very unwell.",
    "stroke": "**Note the time the symptoms started** and tell the emergency team. Call even if the symptoms go away.",
    "cardiac": "Sit down and rest while you wait for help.",
    "anaphylaxis": "If there is an adrenaline (epinephrine) auto-injector, use it now.",
    "bleeding": "Press firmly on the wound with a clean cloth and keep pressing until help arrives.",
    "seizure": "Do not put anything in their mouth; move things away from them and time the seizure.",
    "head_injury": "Keep the person still and do not leave them alone.",
}

EMERGENCY_EN = (
    "**This sounds like it could be an emergency. Please call 911 now** (or your local emergency number), or go to the "
    "nearest emergency department. If you are with someone who is unwell, stay with them until help arrives. "
    "This chat cannot help in an emergency."
)

# The emergency reply in other languages: the same message, with the kind's one line where it matters most.
EMERGENCY_I18N = {
    "es": "**Esto puede ser una emergencia. Llame al 911 ahora** (o a su número local de emergencias), o vaya a la "
    "sala de emergencias más cercana. Si está con alguien que se siente mal, quédese con esa persona hasta que "
    "llegue la ayuda. Este chat no puede ayudar en una emergencia.",
    "fr": "**Cela peut être une urgence. Appelez le 911 maintenant** (ou le numéro d'urgence local : 15 ou 112 en "
    "France), ou allez aux urgences les plus proches. Ce chat ne peut pas aider en cas d'urgence.",
    "zh": "**这可能是紧急情况。请立即拨打 911**(或当地急救电话),或前往最近的急诊室。如果您和身体不适的人在一起,"
    "请陪着他们直到救援到来。本聊天无法处理紧急情况。",
    "vi": "**Đây có thể là trường hợp khẩn cấp. Hãy gọi 911 ngay** (hoặc số cấp cứu tại địa phương), hoặc đến phòng "
    "cấp cứu gần nhất. Cuộc trò chuyện này không thể giúp trong trường hợp khẩn cấp.",
    "tl": "**Maaaring emergency ito. Tumawag sa 911 ngayon** (o sa lokal na emergency number), o pumunta sa "
    "pinakamalapit na emergency room. Hindi makakatulong ang chat na ito sa isang emergency.",
    "ar": "**قد تكون هذه حالة طارئة. اتصل بالرقم 911 الآن** (أو برقم الطوارئ المحلي)، أو اذهب إلى أقرب قسم طوارئ. "
    "لا يمكن لهذه المحادثة المساعدة في حالات الطوارئ.",
    "pt": "**Isto pode ser uma emergência. Ligue para o 911 agora** (ou para o número de emergência local), ou vá ao "
    "pronto-socorro mais próximo. Este chat não pode ajudar em uma emergência.",
    "de": "**Das könnte ein Notfall sein. Rufen Sie jetzt 911 an** (oder Ihre örtliche Notrufnummer, z. B. 112), "
    "oder gehen Sie in die nächste Notaufnahme. Dieser Chat kann in einem Notfall nicht helfen.",
    "it": "**Potrebbe essere un'emergenza. Chiami subito il 911** (o il numero di emergenza locale, ad es. 112), o "
    "vada al pronto soccorso più vicino. Questa chat non può aiutare in un'emergenza.",
    "ru": "**Это может быть неотложное состояние. Позвоните 911 сейчас** (или по местному номеру экстренной службы), "
    "или обратитесь в ближайшее отделение неотложной помощи. Этот чат не может помочь в экстренной ситуации.",
    "ko": "**응급 상황일 수 있습니다. 지금 911에 전화하세요** (또는 지역 응급 번호). 가장 가까운 응급실로 가세요. "
    "이 채팅은 응급 상황에서 도움을 드릴 수 없습니다.",
    "ja": "**緊急事態の可能性があります。今すぐ911に電話してください**(または地域の緊急番号)。"
    "最寄りの救急外来に行ってください。"
    "このチャットは緊急時にはお手伝いできません。",
    "hi": "**यह आपातकाल हो सकता है। अभी 911 पर कॉल करें** (या अपने स्थानीय आपातकालीन नंबर पर), या नज़दीकी आपातकालीन विभाग "
    "में जाएँ। यह चैट आपातकाल में मदद नहीं कर सकती।",
}
_EXTRA_I18N = {
    ("es", "suicide"): "También puede llamar o enviar un mensaje de texto al **988** (Línea de Prevención del Suicidio "
    "y Crisis; marque 2 para español), a cualquier hora. No está solo.",
    ("es", "poisoning"): "Para una intoxicación, llame al **Centro de Envenenamiento: 1-800-222-1222**. Si la persona "
    "se desmaya, tiene una convulsión, le cuesta respirar o no se despierta, llame al 911 de inmediato.",
    ("es", "post_treatment"): "Después de un trasplante o quimioterapia, la fiebre o los escalofríos pueden ser graves "
    "en pocas horas: **llame ahora a la línea de día y noche de su equipo de trasplante** o vaya a emergencias.",
    ("es", "stroke"): "**Anote la hora en que empezaron los síntomas.** Llame aunque los síntomas desaparezcan.",
    ("pt", "suicide"): "Você também pode ligar ou enviar mensagem para o **988** (EUA) ou, no Brasil, para o CVV no "
    "**188**, a qualquer hora.",
}

# "I answer in English only" in the languages patients here most often write in.
ENGLISH_ONLY = {
    "es": "Lo siento, solo puedo responder preguntas en inglés. En una emergencia, llame al 911.",
    "zh": "抱歉,我只能用英文回答问题。如遇紧急情况,请拨打 911。",
    "vi": "Xin lỗi, tôi chỉ có thể trả lời câu hỏi bằng tiếng Anh. Trong trường hợp khẩn cấp, hãy gọi 911.",
    "tl": "Paumanhin, sa Ingles lamang ako nakakasagot ng mga tanong. Kung may emergency, tumawag sa 911.",
    "ar": "عذرًا، يمكنني الإجابة عن الأسئلة باللغة الإنجليزية فقط. في حالة الطوارئ، اتصل بالرقم 911.",
    "fr": "Désolé, je ne peux répondre qu'en anglais. En cas d'urgence, appelez le 911 (le 15 ou le 112 en France).",
    "pt": "Desculpe, só posso responder a perguntas em inglês. Em caso de emergência, ligue para o 911.",
    "de": "Entschuldigung, ich kann nur auf Englisch antworten. Rufen Sie im Notfall 911 (oder 112) an.",
    "it": "Mi dispiace, posso rispondere solo in inglese. In caso di emergenza, chiami il 911 (o il 112).",
    "ru": "Извините, я могу отвечать только на английском языке. В экстренной ситуации звоните 911.",  # noqa: RUF001
    "ko": "죄송합니다. 영어로만 답변할 수 있습니다. 응급 상황에서는 911에 전화하세요.",
    "ja": "申し訳ありませんが、英語でのみお答えできます。緊急の場合は911に電話してください。",
    "hi": "क्षमा करें, मैं केवल अंग्रेज़ी में उत्तर दे सकता हूँ। आपातकाल में 911 पर कॉल करें।",
}
ENGLISH_ONLY_EN = "Sorry, I can answer questions in English only. In an emergency, call 911."


def advice_text(documents: int = 1) -> str:
    """The kind decline of personal advice that leads the general facts; it speaks of one article or several
    documents, as the rest of the reply does."""
    source = "the article itself reports" if documents == 1 else "the documents themselves report"
    return (
        "I can't advise on your own care or a relative's: whether a treatment, a medicine or a change is right for a "
        "particular person is something to decide with their neurologist or care team, who know their history. "
        f"Here is what {source}, as general information."
    )


ADVICE_TEXT = advice_text()
SAFETY_NET = (
    "If you or the person you care for feel unwell after treatment, contact your care team promptly; "
    "call 911 if it is severe."
)
SUPPORT = (
    "If you are struggling with how you feel, you don't have to face it alone: talk to your doctor or care team, or "
    "call or text **988** (Suicide & Crisis Lifeline, US) any time, day or night. If something is wrong right now, "
    "call 911 or go to the nearest emergency department."
)
DEFAULT_SUGGESTIONS = (
    "How many people took part in the study?",
    "What happened to participants after five years?",
    "What risks or side effects did the article report?",
)


def fixed_texts() -> tuple[str, ...]:
    """Every fixed safety text in every language (emergencies and their extras, English-only notices)."""
    return (
        EMERGENCY_EN,
        *EMERGENCY_I18N.values(),
        *_EXTRA.values(),
        *_EXTRA_I18N.values(),
        *ENGLISH_ONLY.values(),
        ENGLISH_ONLY_EN,
        SUPPORT,
    )


def emergency_text(kind: str | None, language: str = "en") -> str:
    """The emergency reply for `kind` in `language` (English when there is no translation)."""
    if language != "en" and language in EMERGENCY_I18N:
        extra = _EXTRA_I18N.get((language, kind or ""))
        text = EMERGENCY_I18N[language]
        return f"{text} {extra}" if extra else text
    extra = _EXTRA.get(kind or "")
    return f"{EMERGENCY_EN} {extra}" if extra else EMERGENCY_EN


def escalated_kind(text: str) -> str | None:
    """The kind of emergency `text` escalated, when it is one of these replies (in any language, with anything
    after it), else None: a conversation's history shows what an earlier turn was told, whichever process told it.
    A kind whose reply adds nothing to the general one reads as "other"."""
    said = " ".join(text.split())
    if not any(said.startswith(" ".join(base.split())) for base in (EMERGENCY_EN, *EMERGENCY_I18N.values())):
        return None
    extras = [*_EXTRA.items(), *((kind, extra) for (_, kind), extra in _EXTRA_I18N.items())]
    return next((kind for kind, extra in extras if " ".join(extra.split()) in said), "other")


def english_only_text(language: str) -> str:
    """A short note, in the message's language where we have it, that the bot answers in English only."""
    local = ENGLISH_ONLY.get(language)
    return f"{local}\n\n{ENGLISH_ONLY_EN}" if local else ENGLISH_ONLY_EN


def with_suggestions(text: str, suggestions: Sequence[str]) -> str:
    return text + "\n\n" + "\n".join(f"- {s}" for s in suggestions) if suggestions else text


def injection_text(subject: str, suggestions: Sequence[str]) -> str:
    return with_suggestions(
        f"I can't change how I work or share my instructions. I answer questions about {subject}, always with "
        "citations and the risks it reports. You could ask:",
        suggestions,
    )


def out_of_scope_text(subject: str, suggestions: Sequence[str]) -> str:
    return with_suggestions(f"I can only help with {subject}. You could ask:", suggestions)


def greeting_text(subject: str, suggestions: Sequence[str], *, thanks: bool = False, bye: bool = False) -> str:
    if bye and not thanks:
        return "Goodbye, and take care."
    if thanks:
        return with_suggestions(
            f"You're welcome. If you have more questions about {subject}, I'm here. You could ask:", suggestions
        )
    return with_suggestions(
        f"Hello! I answer questions about {subject}, with citations to the source. You could ask:", suggestions
    )
