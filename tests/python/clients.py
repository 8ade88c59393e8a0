"""Drives `jongler serve` with the real SDKs: google-genai, openai, anthropic.

usage: clients.py genai|openai|openai-native|anthropic|wrong-token BASE_URL TOKEN
       clients.py alias BASE_URL TOKEN ALIAS SERVED_BY
Prints one line per check; exits non-zero on any failure.
"""
import sys

mode, base, token = sys.argv[1:4]

if mode == "genai":
    from google import genai
    from google.genai import types

    client = genai.Client(api_key=token, http_options=types.HttpOptions(base_url=base))
    reply = client.models.generate_content(model="gemini-2.5-flash", contents="hello from genai")
    assert reply.text == "echo: hello from genai", reply.text
    print("genai plain ok:", reply.text)
    chunks = [c.text for c in client.models.generate_content_stream(model="gemini-2.5-flash", contents="stream from genai")]
    assert len(chunks) == 3 and "".join(chunks) == "echo: stream from genai", chunks
    print("genai stream ok:", len(chunks), "chunks")
    # Gemini's own model list and model (GET /v1beta/models…), not OpenAI's.
    names = [m.name for m in client.models.list()]
    assert "models/gemini-2.5-flash" in names, names
    print("genai models ok:", len(names))
    model = client.models.get(model="gemini-2.5-flash")
    assert model.name == "models/gemini-2.5-flash", model
    print("genai model ok")
    tokens = client.models.count_tokens(model="gemini-2.5-flash", contents="count me please")
    assert tokens.total_tokens and tokens.total_tokens > 0, tokens
    print("genai count tokens ok:", tokens.total_tokens)
    emb = client.models.embed_content(model="gemini-embedding-001", contents="embed me")
    assert len(emb.embeddings[0].values) == 4, emb
    print("genai embeddings ok")
elif mode == "openai":
    import openai

    client = openai.OpenAI(api_key=token, base_url=base + "/v1", max_retries=0)
    reply = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "hello from openai"}]
    )
    assert reply.choices[0].message.content == "echo: hello from openai", reply
    print("openai plain ok:", reply.choices[0].message.content)
    stream = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "stream from openai"}], stream=True
    )
    parts = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert len(parts) == 3 and "".join(parts) == "echo: stream from openai", parts
    print("openai stream ok:", len(parts), "chunks")
    models = [m.id for m in client.models.list()]
    assert "models/gemini-2.5-flash" in models, models
    print("openai models ok:", len(models))
    emb = client.embeddings.create(model="gemini-embedding-001", input="embed me")
    assert len(emb.data[0].embedding) == 4, emb
    print("openai embeddings ok")
elif mode == "responses":
    # The Responses API and legacy completions, bridged onto chat completions.
    import openai

    client = openai.OpenAI(api_key=token, base_url=base + "/v1", max_retries=0)
    reply = client.responses.create(model="gemini-2.5-flash", input="hello from responses",
                                    instructions="be brief", max_output_tokens=100)
    assert reply.output_text == "echo: be brief hello from responses", reply
    assert reply.status == "completed" and reply.usage.input_tokens > 0, reply
    print("responses plain ok:", reply.output_text)
    events = list(client.responses.create(model="gemini-2.5-flash", input="stream from responses", stream=True))
    kinds = [e.type for e in events]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed", kinds
    assert len(deltas) == 3 and "".join(deltas) == "echo: stream from responses", deltas
    assert events[-1].response.output_text == "echo: stream from responses"
    print("responses stream ok:", len(deltas), "deltas")
    turns = client.responses.create(model="gemini-2.5-flash", input=[
        {"role": "user", "content": [{"type": "input_text", "text": "first"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
        {"role": "user", "content": "second"}])
    assert turns.output_text == "echo: first ok second", turns.output_text
    print("responses multi-turn ok")
    try:
        client.responses.create(model="gemini-2.5-flash", input="x", previous_response_id="resp_1")
    except openai.BadRequestError as e:
        assert "previous_response_id" in str(e), e
        print("responses refusal ok:", e.status_code)
    else:
        sys.exit("previous_response_id was dropped silently")
    legacy = client.completions.create(model="gemini-2.5-flash", prompt="legacy prompt")
    assert legacy.choices[0].text == "echo: legacy prompt", legacy
    print("completions ok:", legacy.choices[0].text)
elif mode == "openai-native":
    # A serve of an OpenAI-style connector (the emulator playing OpenAI).
    import openai

    client = openai.OpenAI(api_key=token, base_url=base + "/v1", max_retries=0)
    reply = client.chat.completions.create(
        model="model-small", messages=[{"role": "user", "content": "hello from openai"}]
    )
    assert reply.choices[0].message.content == "echo: hello from openai", reply
    print("openai-native plain ok:", reply.choices[0].message.content)
elif mode == "anthropic":
    # A serve of an Anthropic connector: the SDK sends the token as x-api-key.
    import anthropic

    client = anthropic.Anthropic(api_key=token, base_url=base, max_retries=0)
    reply = client.messages.create(
        model="model-small", max_tokens=64, messages=[{"role": "user", "content": "hello from anthropic"}]
    )
    assert reply.content[0].text == "echo: hello from anthropic", reply
    print("anthropic plain ok:", reply.content[0].text)
elif mode == "alias":
    # A serve of several connectors: an alias's chain, plain and streamed,
    # straight and through the Responses bridge; the answer says who served.
    import openai

    alias, served_by = sys.argv[4:6]
    client = openai.OpenAI(api_key=token, base_url=base + "/v1", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model=alias, messages=[{"role": "user", "content": "hello via alias"}]
    )
    assert raw.headers["x-jongler-served-by"] == served_by, raw.headers
    reply = raw.parse()
    assert reply.choices[0].message.content == "echo: hello via alias", reply
    print("alias plain ok:", served_by)
    stream = client.chat.completions.create(
        model=alias, messages=[{"role": "user", "content": "stream via alias"}], stream=True
    )
    parts = [c.choices[0].delta.content or "" for c in stream if c.choices]
    parts = [p for p in parts if p]
    assert len(parts) >= 2 and "".join(parts) == "echo: stream via alias", parts
    print("alias stream ok:", len(parts), "chunks")
    events = list(client.responses.create(model=alias, input="responses via alias", stream=True))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert events[-1].type == "response.completed", [e.type for e in events]
    assert len(deltas) >= 2 and "".join(deltas) == "echo: responses via alias", deltas
    print("alias responses stream ok:", len(deltas), "deltas")
    ids = [m.id for m in client.models.list()]
    assert alias in ids, ids
    print("alias models ok:", len(ids))
    # The provider's model by its connector/model id.
    raw = client.chat.completions.with_raw_response.create(
        model=served_by, messages=[{"role": "user", "content": "hello by id"}]
    )
    assert raw.headers["x-jongler-served-by"] == served_by, raw.headers
    assert raw.parse().choices[0].message.content == "echo: hello by id"
    print("connector/model id ok")
elif mode == "wrong-token":
    import openai

    client = openai.OpenAI(api_key=token, base_url=base + "/v1", max_retries=0)
    try:
        client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}])
    except openai.AuthenticationError as e:
        print("refused ok:", e.status_code)
    else:
        sys.exit("a wrong token was let through")
else:
    sys.exit(f"unknown mode {mode}")
