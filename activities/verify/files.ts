/**
 * The files a code step wrote, taken from its Markdown output. The convention the prompts ask
 * for: each file in its own fenced block, with a line `File: <relative path>` right above it.
 * Accepted too, since models vary: `**File:** \`x\``, `### x.py`, `**x.py**`, `` `x.py` `` or
 * `x.py:` alone on the line above; ```` ```python title="x.py" ```` (or `file=`, or
 * `python:x.py`, or a bare `x.py` in the info string); or `# file: x.py` / `// file: x.py` as the
 * block's first line. A block with no name is an example, not a file: it is left out.
 */
import { VERIFY_LIMITS } from '../../contract/data';

export interface ExtractedFile {
  path: string;
  content: string;
}

export interface Extraction {
  files: ExtractedFile[];
  /** Named blocks that were not taken, and why: a path outside /work, too big, too many. */
  rejected: { name: string; why: string }[];
}

const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;
/** Something that looks like a file name with an extension: `hello.py`, `lib/util.sh`. */
const LOOKS_LIKE_FILE = /^[^\s`*#:]*[^\s`*#:/]\.[A-Za-z0-9]{1,8}$/;

export function extractFiles(markdown: string): Extraction {
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n');
  const named: { name: string; content: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]);
    if (!open) continue;
    const [, marker, info] = open;
    // A backtick fence's info string has no backticks (CommonMark).
    if (marker[0] === '`' && info.includes('`')) continue;
    const body: string[] = [];
    let j = i + 1;
    const close = new RegExp(`^ {0,3}${marker[0] === '`' ? '`' : '~'}{${marker.length},}\\s*$`);
    while (j < lines.length && !close.test(lines[j])) body.push(lines[j++]);
    const name = nameFromInfo(info) ?? nameAbove(lines, i) ?? nameInside(body[0]);
    if (name) named.push({ name, content: `${body.join('\n')}\n` });
    i = j;
  }
  return checkFiles(named);
}

function nameFromInfo(info: string): string | undefined {
  const attribute = /\b(?:title|file|filename|name|path)\s*=\s*"?([^"\s]+)"?/i.exec(info)?.[1];
  if (attribute) return attribute;
  const [first, second] = info.trim().split(/\s+/);
  const colon = /^[A-Za-z0-9+-]+:(\S+)$/.exec(first ?? '')?.[1];
  if (colon) return colon;
  return [second, first].find((token) => token && LOOKS_LIKE_FILE.test(token));
}

/** The nearest non-blank line above the fence, at most two lines up. */
function nameAbove(lines: string[], fence: number): string | undefined {
  for (let k = fence - 1; k >= Math.max(0, fence - 3); k--) {
    const line = lines[k].trim();
    if (!line) continue;
    // Markdown around the name: headings, bullets, bold, code spans, a trailing colon.
    const bare = line
      .replace(/^(#{1,6}|[-*+]|\d+\.)\s+/, '')
      .replace(/\*\*|`/g, '')
      .replace(/^\*(.*)\*$|^__(.*)__$/, '$1$2')
      .trim();
    const labelled = /^(?:file|filename|path)\s*:\s*(.+)$/i.exec(bare)?.[1];
    if (labelled) return labelled;
    const alone = bare.replace(/:$/, '');
    return LOOKS_LIKE_FILE.test(alone) ? alone : undefined;
  }
  return undefined;
}

function nameInside(firstLine: string | undefined): string | undefined {
  return /^\s*(?:#|\/\/)\s*file(?:name)?\s*:\s*(\S+)\s*$/i.exec(firstLine ?? '')?.[1];
}

/** Why a path cannot be a file in /work, or null when it can. */
export function unsafePath(path: string): string | null {
  if (path.length > VERIFY_LIMITS.maxPathChars) return `longer than ${VERIFY_LIMITS.maxPathChars} characters`;
  if (path.startsWith('/')) return 'an absolute path';
  if (!/^[A-Za-z0-9._/-]+$/.test(path)) return 'only letters, digits, ".", "_", "-" and "/" are allowed';
  const parts = path.split('/');
  if (parts.some((part) => part === '..')) return 'it leaves the directory';
  if (parts.some((part) => part === '' || part === '.')) return 'an empty or "." path segment';
  if (parts.some((part) => part.startsWith('.'))) return 'a hidden file or directory';
  if (parts.length > 4) return 'more than 4 levels deep';
  return null;
}

function checkFiles(named: { name: string; content: string }[]): Extraction {
  const byPath = new Map<string, string>();
  const rejected: Extraction['rejected'] = [];
  for (const { name, content } of named) {
    const path = name.replace(/^(\.\/)+/, '');
    const why = unsafePath(path);
    if (why) rejected.push({ name, why });
    else if (Buffer.byteLength(content) > VERIFY_LIMITS.maxFileBytes)
      rejected.push({ name, why: `larger than ${VERIFY_LIMITS.maxFileBytes} bytes` });
    // A file written twice: the later block is the model's correction.
    else byPath.set(path, content);
  }
  const files: ExtractedFile[] = [];
  let total = 0;
  for (const [path, content] of byPath) {
    total += Buffer.byteLength(content);
    if (files.length >= VERIFY_LIMITS.maxFiles) rejected.push({ name: path, why: `more than ${VERIFY_LIMITS.maxFiles} files` });
    else if (total > VERIFY_LIMITS.maxTotalBytes)
      rejected.push({ name: path, why: `the files together are larger than ${VERIFY_LIMITS.maxTotalBytes} bytes` });
    else files.push({ path, content });
  }
  return { files, rejected };
}
