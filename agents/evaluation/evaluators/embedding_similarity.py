"""Embedding similarity between the output and the reference answer (the `metamon[semantic]` extra,
sentence-transformers). Without the extra the evaluator reports itself unavailable and scores nothing."""

from importlib.util import find_spec

from metamon.agents.evaluation.evaluators.base import Evaluator, Score, TraceLike

PASS_THRESHOLD = 0.8


class EmbeddingSimilarity(Evaluator):
    name = "embedding_similarity"
    kind = "embedding"
    direction = "maximize"

    def __init__(self, model_name: str = "all-MiniLM-L6-v2"):
        self.model_name = model_name
        self._model = None

    def available(self) -> tuple[bool, str]:
        if find_spec("sentence_transformers") is None:
            return False, "sentence-transformers is not installed (pip install 'metamon[semantic]')"
        return True, ""

    def evaluate(self, trace: TraceLike) -> Score | None:
        expected = (trace.reference or {}).get("expected_answer")
        if not expected or not self.available()[0]:
            return None
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.model_name)
        output_vec, expected_vec = self._model.encode(
            [trace.output or "", expected], normalize_embeddings=True
        )
        similarity = float(max(0.0, min(1.0, output_vec @ expected_vec)))
        return Score(
            similarity,
            similarity >= PASS_THRESHOLD,
            f"cosine similarity {similarity:.3f} to the expected answer",
            {"model": self.model_name},
        )
