// One check of the client scripts: runs `fn` and prints
// `RESULT <client> <check> ok <detail>` or `... FAIL <error>` on one line.
export async function check(client, name, fn) {
  try {
    const detail = await fn();
    console.log(`RESULT ${client} ${name} ok ${detail ?? ""}`.replace(/\n/g, " "));
  } catch (e) {
    console.log(`RESULT ${client} ${name} FAIL ${(e?.constructor?.name ?? "")}: ${String(e?.message ?? e)}`.replace(/\n/g, " ").slice(0, 400));
  }
}
