"""local/use-multilingual-anchors: sentiment by nearness to anchor sentences, offline, Korean and English.

No registry package ships a Korean sentiment model, so this provider classifies zero-shot: each class
(positive / negative / neutral) is the mean embedding of its anchor sentences (data/sentiment_anchors.json), and a
text gets the class whose centroid is most similar to it (multilingual USE embeddings). The score is a softmax over
the three similarities. Keywords are the text's content words that lean most towards the winning class.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from .base import MAX_KEYWORDS, SENTIMENTS, Embedder, SentimentResult, TextClassifier

ANCHORS_FILE = Path(__file__).resolve().parent.parent / "data" / "sentiment_anchors.json"
WORD = re.compile(r"[^\W\d_][\w'’-]*")
MAX_WORDS = 24


class AnchorSentimentClassifier(TextClassifier):
    provider = "local"

    def __init__(
        self, model_id: str, embedder: Embedder, centroids: np.ndarray, temperature: float, stopwords: frozenset[str]
    ) -> None:
        super().__init__(model_id)
        self.embedder = embedder
        self.centroids = centroids  # (3, dimension), rows in SENTIMENTS order, L2-normalised
        self.temperature = temperature
        self.stopwords = stopwords

    @classmethod
    async def create(cls, model_id: str, embedder: Embedder, anchors_file: Path = ANCHORS_FILE):
        data = json.loads(anchors_file.read_text("utf-8"))
        if data.get("embedder", embedder.model_id) != embedder.model_id:
            raise ValueError(f"{anchors_file.name} was written for {data['embedder']}, not {embedder.model_id}")
        rows = []
        for sentiment in SENTIMENTS:
            vectors = (await embedder.embed(list(data["classes"][sentiment]))).vectors
            centroid = vectors.mean(axis=0)
            rows.append(centroid / np.linalg.norm(centroid))
        stopwords = frozenset(word.lower() for word in data.get("stopwords", ()))
        return cls(model_id, embedder, np.stack(rows).astype(np.float32), float(data["temperature"]), stopwords)

    async def classify(self, text: str) -> SentimentResult:
        words = content_words(text, self.stopwords)
        vectors = (await self.embedder.embed([text, *words])).vectors
        similarities = self.centroids @ vectors[0]
        probabilities = softmax(similarities / self.temperature)
        winner = int(np.argmax(similarities))
        return SentimentResult(
            sentiment=SENTIMENTS[winner],
            score=float(probabilities[winner]),
            keywords=self.keywords(words, vectors[1:], winner),
        )

    def keywords(self, words: list[str], vectors: np.ndarray, winner: int) -> list[str]:
        """Words more similar to the winning class than to any other one, the most leaning first."""
        if not words:
            return []
        similarities = vectors @ self.centroids.T  # (words, 3)
        others = np.delete(similarities, winner, axis=1).max(axis=1)
        lean = similarities[:, winner] - others
        order = np.argsort(-lean, kind="stable")
        return [words[i] for i in order[:MAX_KEYWORDS] if lean[i] > 0]


def content_words(text: str, stopwords: frozenset[str]) -> list[str]:
    """Distinct words of the text in order, without stopwords and one-letter words, at most MAX_WORDS."""
    seen: dict[str, str] = {}
    for match in WORD.finditer(text):
        word = match.group().strip("'’-")
        key = word.lower()
        if len(word) > 1 and key not in stopwords and key not in seen:
            seen[key] = word
    return list(seen.values())[:MAX_WORDS]


def softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()
