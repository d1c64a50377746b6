import { configureLogging } from '../../src/index.js';

/** Captures log lines (parsed) written while `filter` is in force. */
export function captureLogs(filter: string): { lines: Record<string, unknown>[]; raw: string[] } {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  configureLogging({
    filter,
    format: 'json',
    destination: {
      write(s: string) {
        raw.push(s);
        lines.push(JSON.parse(s) as Record<string, unknown>);
      },
    },
  });
  return { lines, raw };
}
