/**
 * Where `csattn decode` takes its questions from: --prompt, --prompt-file, a JSONL of prompts, or
 * standard input when it is not a terminal.
 */
import { check, CsattnError } from './errors.js';
import { readDocument } from './fsutil.js';

export interface Question { id: string; prompt: string }

export interface QuestionSources { prompt?: string; promptFile?: string; prompts?: string }

export async function readQuestions(o: QuestionSources): Promise<Question[]> {
  const given = [o.prompt !== undefined, o.promptFile !== undefined, o.prompts !== undefined].filter(Boolean).length;
  check(given <= 1, 'give one of --prompt, --prompt-file, --prompts', 'input');
  if (o.prompt !== undefined) return [{ id: '0', prompt: o.prompt }];
  if (o.promptFile !== undefined) return [{ id: '0', prompt: await readDocument(o.promptFile) }];
  if (o.prompts !== undefined) return parsePromptsJsonl(await readDocument(o.prompts), o.prompts);
  check(!process.stdin.isTTY, 'give a question: --prompt, --prompt-file, --prompts, or on stdin', 'input');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return [{ id: '0', prompt: Buffer.concat(chunks).toString('utf8') }];
}

/** One question per line: a JSON object with "prompt" (and optionally "id"), or a JSON string. */
export function parsePromptsJsonl(text: string, file: string): Question[] {
  const out: Question[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let v: any;
    try { v = JSON.parse(line); } catch { throw new CsattnError(`${file}:${i + 1}: not valid JSON`, 'input'); }
    const prompt = typeof v === 'string' ? v : v?.prompt;
    check(typeof prompt === 'string' && prompt.trim() !== '', `${file}:${i + 1}: expected {"prompt": "..."} or a JSON string`, 'input');
    out.push({ id: String(v?.id ?? out.length), prompt });
  });
  check(out.length > 0, `${file} holds no questions`, 'input');
  return out;
}
