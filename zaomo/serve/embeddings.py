"""/v1/embeddings: a local Hugging Face encoder (BERT-like), pooled as its sentence-transformers config says
(CLS for BGE; mean over the real tokens without one) and L2-normalised, so a dot product is the cosine
similarity clients expect from OpenAI's embeddings. Inputs are embedded as given: the API has no query/passage
distinction, so clients add an encoder's query instruction themselves."""

from __future__ import annotations

import base64
import threading
from pathlib import Path

from ..utils.io import InputError


class Embedder:
    """Loaded once; `embed` batches the inputs and truncates each to the encoder's length limit."""

    def __init__(self, model_dir: str | Path, device: str = "auto", name: str | None = None, batch_size: int = 32):
        from transformers import AutoModel, AutoTokenizer

        from ..model.embed import encoder_spec
        from ..model.load import pick_device

        path = Path(model_dir)
        if not (path / "config.json").is_file():
            raise InputError(path, None, "serve.embedding_model is not a Hugging Face model directory "
                             "(no config.json)", "point it at a local encoder saved with save_pretrained")
        self.name = name or path.name
        spec = encoder_spec(path)
        if spec.needs_st:
            from ..utils.log import get_logger

            get_logger("zaomo.serve").warning(f"{path}: its sentence-transformers modules beyond the encoder and "
                                              f"pooling (a Dense projection, ...) are not applied here")
        self.pooling = spec.pooling
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(pick_device(device)).eval()
        limit = getattr(self.model.config, "max_position_embeddings", 512)
        self.max_length = min(limit, self.tok.model_max_length or limit, spec.max_length or limit)
        self.dim = int(self.model.config.hidden_size)
        self.batch_size = batch_size
        self._lock = threading.Lock()  # one forward at a time: requests share the CPU/GPU anyway

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """(one unit vector per text, tokens used)."""
        from ..model.embed import embed_texts

        with self._lock:
            vecs, tokens = embed_texts(self.model, self.tok, texts, self.max_length, self.batch_size, self.pooling)
        return vecs.tolist(), tokens


def encode_base64(vector: list[float]) -> str:
    """OpenAI's `encoding_format: base64`: little-endian float32 bytes (the official client's default)."""
    import numpy as np

    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
