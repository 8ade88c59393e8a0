// The client matrix, JavaScript side: @google/genai, openai, and the AI SDK
// with @ai-sdk/google and @ai-sdk/openai (its default: the Responses API)
// against `jongler serve`. Prints `RESULT <client> <check> ok|FAIL|n/a <detail>`.
//
// usage: node matrix.mjs BASE_URL TOKEN
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { generateText, streamText, embed } from "ai";
import { createGoogleGenerativeAI } from "@ai-sdk/google";
import { createOpenAI } from "@ai-sdk/openai";
import { check } from "./check.mjs";

// The emulator sends a stream's chunks 150 ms apart; an answer handed over
// whole arrives within a few ms. 50 ms tells them apart on a loaded machine.
const MIN_SPREAD = 0.05;

const [base, token] = process.argv.slice(2);
const MODEL = "gemini-2.5-flash", OUT_MODEL = "gemini-2.5-pro", EMBED = "gemini-embedding-001";

async function streamed(iterable) {
  const texts = [];
  let first, last;
  for await (const t of iterable) {
    const now = performance.now();
    first ??= now;
    last = now;
    texts.push(t);
  }
  return [texts, first === undefined ? 0 : (last - first) / 1000];
}

function expectText(texts, want) {
  const got = texts.join("");
  if (got !== want) throw new Error(`got ${JSON.stringify(got)}`);
  return texts;
}

async function givesUp(fn, names) {
  const start = performance.now();
  try {
    await fn();
  } catch (e) {
    const took = (performance.now() - start) / 1000;
    // The AI SDK wraps the last answer in a RetryError.
    const last = e?.lastError;
    const what = `${e?.constructor?.name} ${e?.status ?? e?.statusCode ?? ""} ${e?.message} ${last?.statusCode ?? ""} ${last?.message ?? ""}`;
    if (took >= 10) throw new Error(`gave up after ${took.toFixed(1)}s`);
    if (!names.some((n) => what.includes(n))) throw new Error(`wrong error: ${what}`);
    return `${e?.constructor?.name} in ${took.toFixed(1)}s`;
  }
  throw new Error("no error");
}

// --- @google/genai --------------------------------------------------------
const g = new GoogleGenAI({ apiKey: token, httpOptions: { baseUrl: base } });
await check("@google/genai", "generate", async () => (await g.models.generateContent({ model: MODEL, contents: "hi" })).text);
await check("@google/genai", "stream", async () => {
  const stream = await g.models.generateContentStream({ model: MODEL, contents: "stream me" });
  const [texts, spread] = await streamed((async function* () { for await (const c of stream) yield c.text; })());
  expectText(texts, "echo: stream me");
  if (spread < MIN_SPREAD) throw new Error(`chunks all at once (${spread}s)`);
  return `${texts.length} chunks over ${spread.toFixed(2)}s`;
});
await check("@google/genai", "count-tokens", async () => (await g.models.countTokens({ model: MODEL, contents: "count me" })).totalTokens);
await check("@google/genai", "models", async () => {
  const names = [];
  for await (const m of await g.models.list()) names.push(m.name);
  if (!names.length) throw new Error("empty");
  return names.length;
});
await check("@google/genai", "embedding", async () => (await g.models.embedContent({ model: EMBED, contents: "embed me" })).embeddings[0].values.length);
await check("@google/genai", "wrong-token", () => givesUp(
  () => new GoogleGenAI({ apiKey: "wrong", httpOptions: { baseUrl: base } }).models.generateContent({ model: MODEL, contents: "x" }), ["401", "UNAUTHENTICATED"]));
await check("@google/genai", "out-for-the-day", () => givesUp(
  () => g.models.generateContent({ model: OUT_MODEL, contents: "x" }), ["429", "RESOURCE_EXHAUSTED"]));

// --- openai ---------------------------------------------------------------
const o = new OpenAI({ apiKey: token, baseURL: `${base}/v1` });
await check("openai-node", "generate", async () => (await o.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hi" }] })).choices[0].message.content);
await check("openai-node", "stream", async () => {
  const stream = await o.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "stream me" }], stream: true });
  const [texts, spread] = await streamed((async function* () { for await (const c of stream) if (c.choices.length) yield c.choices[0].delta.content ?? ""; })());
  expectText(texts, "echo: stream me");
  if (spread < MIN_SPREAD) throw new Error(`chunks all at once (${spread}s)`);
  return `${texts.length} chunks over ${spread.toFixed(2)}s`;
});
console.log("RESULT openai-node count-tokens n/a");
await check("openai-node", "models", async () => (await o.models.list()).data.length);
await check("openai-node", "embedding", async () => (await o.embeddings.create({ model: EMBED, input: "embed me" })).data[0].embedding.length);
await check("openai-node", "responses", async () => (await o.responses.create({ model: MODEL, input: "hi" })).output_text);
await check("openai-node", "wrong-token", () => givesUp(
  () => new OpenAI({ apiKey: "wrong", baseURL: `${base}/v1` }).chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "x" }] }), ["AuthenticationError", "401"]));
await check("openai-node", "out-for-the-day", () => givesUp(
  () => o.chat.completions.create({ model: OUT_MODEL, messages: [{ role: "user", content: "x" }] }), ["RateLimitError", "429"]));

// --- the AI SDK -----------------------------------------------------------
for (const [client, provider, embedModel] of [
  ["ai-sdk/google", createGoogleGenerativeAI({ apiKey: token, baseURL: `${base}/v1beta` }), (p) => p.textEmbeddingModel(EMBED)],
  ["ai-sdk/openai", createOpenAI({ apiKey: token, baseURL: `${base}/v1` }), (p) => p.embedding(EMBED)],
]) {
  await check(client, "generate", async () => (await generateText({ model: provider(MODEL), prompt: "hi" })).text);
  await check(client, "stream", async () => {
    const result = streamText({ model: provider(MODEL), prompt: "stream me" });
    const [texts, spread] = await streamed(result.textStream);
    expectText(texts, "echo: stream me");
    if (spread < MIN_SPREAD) throw new Error(`chunks all at once (${spread}s)`);
    return `${texts.length} chunks over ${spread.toFixed(2)}s`;
  });
  console.log(`RESULT ${client} count-tokens n/a`);
  console.log(`RESULT ${client} models n/a`);
  if (client === "ai-sdk/openai") {
    // Its default model path is the Responses API; say so explicitly too.
    await check(client, "responses", async () => (await generateText({ model: provider.responses(MODEL), prompt: "hi" })).text);
  }
  await check(client, "embedding", async () => (await embed({ model: embedModel(provider), value: "embed me" })).embedding.length);
  await check(client, "wrong-token", () => givesUp(() => generateText({
    model: (client === "ai-sdk/google"
      ? createGoogleGenerativeAI({ apiKey: "wrong", baseURL: `${base}/v1beta` })
      : createOpenAI({ apiKey: "wrong", baseURL: `${base}/v1` }))(MODEL), prompt: "x" }), ["401", "UNAUTHENTICATED", "Unauthorized", "AuthenticationError"]));
  await check(client, "out-for-the-day", () => givesUp(
    () => generateText({ model: provider(OUT_MODEL), prompt: "x" }), ["429", "RESOURCE_EXHAUSTED", "Rate", "rate"]));
}
