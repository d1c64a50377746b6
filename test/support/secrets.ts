import assert from 'node:assert/strict';
import { inspect } from 'node:util';

/**
 * Asserts that none of `secrets` appears in what an error shows a user or a log:
 * its message, `String(error)`, its stack, and `util.inspect` (which also prints
 * the cause chain and own properties).
 */
export function assertNoSecrets(error: unknown, secrets: string[]): void {
  assert.ok(error instanceof Error, 'expected an Error');
  const views: Record<string, string> = {
    message: error.message,
    'String(error)': String(error),
    stack: error.stack ?? '',
    inspect: inspect(error, { depth: 8 }),
  };
  for (const secret of secrets) {
    assert.ok(secret.length >= 8, 'a secret to look for must be recognisable (8+ characters)');
    for (const [view, text] of Object.entries(views)) {
      // Do not print the secret itself if this fails.
      assert.ok(!text.includes(secret), `the error's ${view} contains secret text (${secret.slice(0, 4)}…)`);
    }
  }
}

/**
 * Asserts that `message` is one sentence: a single line ending in a period, with
 * no sentence break once the given paths (which contain dots) are taken out.
 */
export function assertOneSentence(message: string, paths: string[] = []): void {
  assert.ok(!message.includes('\n'), `not one line: ${JSON.stringify(message)}`);
  assert.match(message, /\.$/, `does not end with a period: ${message}`);
  let rest = message;
  for (const p of paths) rest = rest.split(p).join('<path>');
  assert.doesNotMatch(rest.slice(0, -1), /[.!?]\s+\S/, `more than one sentence: ${message}`);
}
