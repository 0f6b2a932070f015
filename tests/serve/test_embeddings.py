"""/v1/embeddings with a tiny BERT encoder built in the test, through the official openai client."""

from __future__ import annotations

import httpx
import openai
import pytest
import torch
from transformers import AutoTokenizer

from zaomo.serve.app import create_app
from zaomo.workspace import Workspace

TEXTS = ["研发部的负责人是王建国。", "研发部位于总部大楼3楼。", "The head of the R&D Department is Wang Jianguo."]


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    """A 2-layer BERT (hidden 32) with a character vocabulary (WordPiece), saved like any HF encoder."""
    from transformers import BertConfig, BertModel, BertTokenizer

    root = tmp_path_factory.mktemp("enc")
    chars = sorted({c for t in TEXTS for c in t.lower() if not c.isspace()})
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars if c.isascii()]
    tok = BertTokenizer(vocab={w: i for i, w in enumerate(words)}, model_max_length=64)
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64, max_position_embeddings=64))
    out = root / "bert-tiny"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def reference(encoder_dir, text: str) -> torch.Tensor:
    """Mean pooling written out by hand over the unpadded input."""
    from transformers import AutoModel

    tok, model = AutoTokenizer.from_pretrained(encoder_dir), AutoModel.from_pretrained(encoder_dir).eval()
    with torch.no_grad():
        h = model(**tok(text, return_tensors="pt")).last_hidden_state[0]
    v = h.mean(0)
    return v / v.norm()


def test_embeddings_openai_client(tmp_path, encoder_dir, eos_engine, serve_app):
    ws = Workspace.open(Workspace.init(tmp_path).root, overrides=[f"serve.embedding_model={encoder_dir}"])
    with serve_app(create_app(ws, engine=eos_engine)) as srv:
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        assert "bert-tiny" in [m.id for m in client.models.list().data]

        r = client.embeddings.create(model="bert-tiny", input=TEXTS)  # the client asks for base64 by default
        assert r.object == "list" and r.model == "bert-tiny" and [d.index for d in r.data] == [0, 1, 2]
        vecs = torch.tensor([d.embedding for d in r.data])
        assert vecs.shape == (3, 32)
        assert torch.allclose(vecs.norm(dim=1), torch.ones(3), atol=1e-4)
        # padding in the batch does not change a vector: each equals the text embedded on its own
        for text, v in zip(TEXTS, vecs, strict=True):
            assert torch.allclose(v, reference(encoder_dir, text), atol=1e-4)
        assert float(vecs[0] @ vecs[1]) > float(vecs[0] @ vecs[2])  # shared characters: closer
        tok = AutoTokenizer.from_pretrained(encoder_dir)
        assert r.usage.prompt_tokens == r.usage.total_tokens == sum(len(tok(t)["input_ids"]) for t in TEXTS)

        single = client.embeddings.create(model="bert-tiny", input=TEXTS[0], encoding_format="float")
        assert torch.allclose(torch.tensor(single.data[0].embedding), vecs[0], atol=1e-5)

        with pytest.raises(openai.NotFoundError):
            client.embeddings.create(model="nope", input="x")
        with pytest.raises(openai.BadRequestError) as e:
            client.embeddings.create(model="bert-tiny", input="x", dimensions=8)
        assert "dimensions" in str(e.value)
        bad = httpx.post(srv.url + "/v1/embeddings", json={"model": "bert-tiny", "input": [1, 2]}, timeout=10)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "input"


def test_embeddings_not_configured_is_an_openai_error(tmp_path, eos_engine, serve_app):
    with serve_app(create_app(Workspace.init(tmp_path), engine=eos_engine)) as srv:
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.NotFoundError) as e:
            client.embeddings.create(model="text-embedding-3-small", input="你好")
        assert "serve.embedding_model" in str(e.value)
        assert e.value.body["code"] == "model_not_found"



def test_embedding_model_that_is_not_a_model_dir_fails_at_startup(tmp_path, eos_engine):
    from zaomo.utils.io import InputError

    ws = Workspace.open(Workspace.init(tmp_path).root, overrides=["serve.embedding_model=models/missing"])
    with pytest.raises(InputError) as e:
        create_app(ws, engine=eos_engine)
    assert "models/missing" in str(e.value) and "config.json" in str(e.value)
