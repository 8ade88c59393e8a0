"""The client matrix, Python side: google-genai, openai and litellm against
`jongler serve`, each through every check it has. Prints one line a check:
`RESULT <client> <check> ok|FAIL|n/a <detail>`; never exits early.

usage: matrix.py BASE_URL TOKEN [CLIENT ...]   (default: all three)
"""
import sys
import time
import traceback

base, token = sys.argv[1:3]
only = set(sys.argv[3:]) or {"google-genai", "openai", "litellm"}
MODEL, OUT_MODEL, EMBED = "gemini-2.5-flash", "gemini-2.5-pro", "gemini-embedding-001"


def check(client, name, fn):
    try:
        detail = fn()
        print(f"RESULT {client} {name} ok {detail or ''}", flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is a result
        msg = f"{type(e).__name__}: {e}".replace("\n", " ")[:300]
        print(f"RESULT {client} {name} FAIL {msg}", flush=True)
        traceback.print_exc(file=sys.stderr)


# The emulator sends a stream's three chunks 150 ms apart: an answer held
# back and handed over whole arrives within a few ms. A client starved of
# CPU reads what piled up at once (one loaded run saw 0.08 s): 50 ms still
# tells the two apart. (The Rust side runs this matrix alone.)
MIN_SPREAD = 0.05


def streamed(chunks):
    """(texts, seconds from the first chunk to the last)."""
    texts, first, last = [], None, None
    for text in chunks:
        now = time.monotonic()
        first = first or now
        last = now
        texts.append(text)
    return texts, (last - first) if first else 0.0


def gives_up(fn, error_names):
    start = time.monotonic()
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        took = time.monotonic() - start
        name = type(e).__name__
        assert took < 10, f"gave up after {took:.1f}s"
        assert any(n in name or n in str(e) for n in error_names), f"{name}: {e}"
        return f"{name} in {took:.1f}s"
    raise AssertionError("no error")


def google_genai():
    # --- google-genai -----------------------------------------------------------
    from google import genai  # noqa: E402
    from google.genai import types  # noqa: E402

    g = genai.Client(api_key=token, http_options=types.HttpOptions(base_url=base))


    def genai_stream():
        texts, spread = streamed(c.text for c in g.models.generate_content_stream(model=MODEL, contents="stream me"))
        assert "".join(texts) == "echo: stream me" and len(texts) >= 2, texts
        assert spread >= MIN_SPREAD, f"chunks all at once ({spread:.2f}s)"
        return f"{len(texts)} chunks over {spread:.2f}s"


    check("google-genai", "generate", lambda: g.models.generate_content(model=MODEL, contents="hi").text)
    check("google-genai", "stream", genai_stream)
    check("google-genai", "count-tokens",
          lambda: g.models.count_tokens(model=MODEL, contents="count me").total_tokens)
    check("google-genai", "models", lambda: len([m for m in g.models.list()]) or (_ for _ in ()).throw(AssertionError("empty")))
    check("google-genai", "embedding",
          lambda: len(g.models.embed_content(model=EMBED, contents="embed me").embeddings[0].values))
    wrong = genai.Client(api_key="wrong", http_options=types.HttpOptions(base_url=base))
    check("google-genai", "wrong-token", lambda: gives_up(
        lambda: wrong.models.generate_content(model=MODEL, contents="x"), ["401", "UNAUTHENTICATED"]))
    check("google-genai", "out-for-the-day", lambda: gives_up(
        lambda: g.models.generate_content(model=OUT_MODEL, contents="x"), ["429", "RESOURCE_EXHAUSTED"]))



def openai_sdk():
    # --- openai -----------------------------------------------------------------
    import openai  # noqa: E402

    o = openai.OpenAI(api_key=token, base_url=base + "/v1")  # default retries


    def openai_stream():
        chunks = o.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "stream me"}], stream=True)
        texts, spread = streamed(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert "".join(texts) == "echo: stream me", texts
        assert spread >= MIN_SPREAD, f"chunks all at once ({spread:.2f}s)"
        return f"{len(texts)} chunks over {spread:.2f}s"


    check("openai", "generate", lambda: o.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}]).choices[0].message.content)
    check("openai", "stream", openai_stream)
    print("RESULT openai count-tokens n/a", flush=True)
    check("openai", "models", lambda: len(o.models.list().data))
    check("openai", "embedding", lambda: len(o.embeddings.create(model=EMBED, input="embed me").data[0].embedding))
    check("openai", "responses", lambda: o.responses.create(model=MODEL, input="hi").output_text)
    check("openai", "wrong-token", lambda: gives_up(
        lambda: openai.OpenAI(api_key="wrong", base_url=base + "/v1").chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}]), ["AuthenticationError"]))
    check("openai", "out-for-the-day", lambda: gives_up(
        lambda: o.chat.completions.create(model=OUT_MODEL, messages=[{"role": "user", "content": "x"}]),
        ["RateLimitError"]))



def litellm_sdk():
    # --- litellm (its OpenAI-compatible provider, pointed at serve) --------------
    import litellm  # noqa: E402

    lk = dict(api_base=base + "/v1", api_key=token)


    def litellm_stream():
        chunks = litellm.completion(model="openai/" + MODEL, messages=[{"role": "user", "content": "stream me"}],
                                    stream=True, **lk)
        texts, spread = streamed(c.choices[0].delta.content or "" for c in chunks)
        assert "".join(texts) == "echo: stream me", texts
        assert spread >= MIN_SPREAD, f"chunks all at once ({spread:.2f}s)"
        return f"{len([t for t in texts if t])} chunks over {spread:.2f}s"


    check("litellm", "generate", lambda: litellm.completion(
        model="openai/" + MODEL, messages=[{"role": "user", "content": "hi"}], **lk).choices[0].message.content)
    check("litellm", "stream", litellm_stream)
    print("RESULT litellm count-tokens n/a", flush=True)
    print("RESULT litellm models n/a", flush=True)
    check("litellm", "embedding", lambda: len(litellm.embedding(
        model="openai/" + EMBED, input=["embed me"], **lk).data[0]["embedding"]))
    check("litellm", "wrong-token", lambda: gives_up(
        lambda: litellm.completion(model="openai/" + MODEL, messages=[{"role": "user", "content": "x"}],
                                   api_base=base + "/v1", api_key="wrong"), ["AuthenticationError"]))
    check("litellm", "out-for-the-day", lambda: gives_up(
        lambda: litellm.completion(model="openai/" + OUT_MODEL, messages=[{"role": "user", "content": "x"}], **lk),
        ["RateLimitError"]))


for name, run in [("google-genai", google_genai), ("openai", openai_sdk), ("litellm", litellm_sdk)]:
    if name in only:
        run()
