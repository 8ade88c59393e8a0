// openai-node and the AI SDK (@ai-sdk/openai) through an alias of a `serve`
// of several connectors: plain, streamed, and streamed through the Responses
// API bridge. Prints `RESULT <client> <check> ok|FAIL <detail>`.
//
// usage: node alias.mjs BASE_URL TOKEN ALIAS SERVED_BY
import OpenAI from "openai";
import { generateText, streamText } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { check } from "./check.mjs";

const [base, token, alias, servedBy] = process.argv.slice(2);

function expectText(texts, want) {
  const got = texts.join("");
  if (got !== want) throw new Error(`got ${JSON.stringify(got)}`);
  if (texts.length < 2) throw new Error(`one piece, not a stream: ${JSON.stringify(texts)}`);
  return `${texts.length} pieces`;
}

const o = new OpenAI({ apiKey: token, baseURL: `${base}/v1`, maxRetries: 0 });
await check("openai-node", "alias-generate", async () => {
  const { data, response } = await o.chat.completions
    .create({ model: alias, messages: [{ role: "user", content: "hi alias" }] })
    .withResponse();
  if (response.headers.get("x-jongler-served-by") !== servedBy) throw new Error(`served by ${response.headers.get("x-jongler-served-by")}`);
  if (data.choices[0].message.content !== "echo: hi alias") throw new Error(data.choices[0].message.content);
  return servedBy;
});
await check("openai-node", "alias-stream", async () => {
  const stream = await o.chat.completions.create({ model: alias, messages: [{ role: "user", content: "stream via alias" }], stream: true });
  const texts = [];
  for await (const chunk of stream) texts.push(chunk.choices[0]?.delta?.content ?? "");
  return expectText(texts.filter((t) => t), "echo: stream via alias");
});
await check("openai-node", "alias-responses-stream", async () => {
  const stream = await o.responses.create({ model: alias, input: "responses via alias", stream: true });
  const texts = [];
  for await (const event of stream) if (event.type === "response.output_text.delta") texts.push(event.delta);
  return expectText(texts, "echo: responses via alias");
});
await check("openai-node", "alias-models", async () => {
  const ids = (await o.models.list()).data.map((m) => m.id);
  if (!ids.includes(alias)) throw new Error(`${alias} not in ${ids}`);
  return `${ids.length} ids`;
});

await check("openai-node", "connector-model-id", async () => {
  const { data, response } = await o.chat.completions
    .create({ model: servedBy, messages: [{ role: "user", content: "hi by id" }] })
    .withResponse();
  if (response.headers.get("x-jongler-served-by") !== servedBy) throw new Error(`served by ${response.headers.get("x-jongler-served-by")}`);
  return data.choices[0].message.content;
});

const provider = createOpenAI({ apiKey: token, baseURL: `${base}/v1` });
await check("ai-sdk/openai", "alias-generate", async () => (await generateText({ model: provider.chat(alias), prompt: "hi" })).text);
await check("ai-sdk/openai", "connector-model-id", async () => (await generateText({ model: provider.chat(servedBy), prompt: "hi" })).text);
await check("ai-sdk/openai", "alias-stream", async () => {
  const result = streamText({ model: provider.chat(alias), prompt: "stream via the ai sdk" });
  const texts = [];
  for await (const t of result.textStream) texts.push(t);
  return expectText(texts, "echo: stream via the ai sdk");
});
await check("ai-sdk/openai", "alias-responses-stream", async () => {
  // The AI SDK's default model path: the Responses API.
  const result = streamText({ model: provider(alias), prompt: "responses via the ai sdk" });
  const texts = [];
  for await (const t of result.textStream) texts.push(t);
  return expectText(texts, "echo: responses via the ai sdk");
});
