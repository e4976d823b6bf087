/**
 * The offline model: the embedded default when no OPENAI_API_KEY is set, so a fresh clone works
 * with no account. Deterministic: the same task always gives the same plan and the same text,
 * streamed in small chunks with a configurable delay. Everything it writes says it is offline.
 *
 * Verification: for a Python, JavaScript or Bash task its plan marks the code step, and that step
 * writes a module and a test that pass (files named as the prompts ask: `File: <path>` above each
 * block). A task that says "fails first" gets code whose test fails in round 1, and the fix in
 * the round after (the step input then carries the failed report), to show the loop.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { PlanSchema } from '../../contract/schemas';
import type { CodeLanguage, ModelInfo, Plan, StepInput, TokenUsage } from '../../contract/data';
import type { LlmProvider, PlanOutput, StepOutput, WriteStepOptions } from './provider';

/** It runs here and costs nothing. */
export const OFFLINE_MODEL: ModelInfo = { name: 'offline model', offline: true, price: { inputPerMillion: 0, outputPerMillion: 0 } };

interface Language {
  name: string;
  fence: string;
  pattern: RegExp;
  hello(fn: string): string;
  stub(fn: string, task: string): string;
  usage(fn: string, hello: boolean): string;
  /** Verifiable languages: how the code step writes its module and its test. */
  code?: {
    language: CodeLanguage;
    extension: string;
    testFile(module: string): string;
    test(fn: string, hello: boolean, module: string): string;
  };
}

const camel = (fn: string) => fn.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
const pascal = (fn: string) => camel(fn).replace(/^[a-z]/, (c) => c.toUpperCase());

/** The trigger for the failing first round (module comment). */
const FAILS_FIRST = /\bfails?[\s-]+first\b/i;

const LANGUAGES: Language[] = [
  {
    name: 'Python',
    fence: 'python',
    pattern: /\bpython\b|\bpy\b|django|flask/i,
    hello: (fn) =>
      `def ${fn}() -> str:\n    """Return the classic greeting."""\n    return "Hello, world!"\n\n\nif __name__ == "__main__":\n    print(${fn}())`,
    stub: (fn, task) =>
      `def ${fn}(*args, **kwargs):\n    """${task.replace(/"""/g, "'''")}"""\n    raise NotImplementedError("offline model: fill in the logic")`,
    usage: (fn, hello) =>
      hello
        ? `from hello import ${fn}\n\n\ndef test_${fn}():\n    assert ${fn}() == "Hello, world!"`
        : `from solution import ${fn}\n\n\ndef test_${fn}_exists():\n    assert callable(${fn})`,
    code: {
      language: 'python',
      extension: 'py',
      testFile: (module) => `test_${module}.py`,
      // unittest style: it runs under pytest and under plain unittest alike.
      test: (fn, hello, module) =>
        `import unittest\n\nfrom ${module} import ${fn}\n\n\nclass ${pascal(fn)}Test(unittest.TestCase):\n` +
        (hello
          ? `    def test_greets(self):\n        self.assertEqual(${fn}(), "Hello, world!")\n`
          : `    def test_exists(self):\n        self.assertTrue(callable(${fn}))\n`) +
        `\n\nif __name__ == "__main__":\n    unittest.main()`,
    },
  },
  {
    name: 'TypeScript',
    fence: 'ts',
    pattern: /typescript|\bts\b|deno/i,
    hello: (fn) => `export function ${camel(fn)}(): string {\n  return 'Hello, world!';\n}\n\nconsole.log(${camel(fn)}());`,
    stub: (fn, task) =>
      `/** ${task.replace(/\*\//g, '* /')} */\nexport function ${camel(fn)}(...args: unknown[]): never {\n  throw new Error('offline model: fill in the logic');\n}`,
    usage: (fn, hello) =>
      hello
        ? `import { ${camel(fn)} } from './hello';\n\ntest('${camel(fn)} greets', () => {\n  expect(${camel(fn)}()).toBe('Hello, world!');\n});`
        : `import { ${camel(fn)} } from './solution';\n\ntest('${camel(fn)} exists', () => {\n  expect(typeof ${camel(fn)}).toBe('function');\n});`,
  },
  {
    name: 'JavaScript',
    fence: 'js',
    pattern: /javascript|\bjs\b|node(\.js)?\b/i,
    hello: (fn) =>
      `function ${camel(fn)}() {\n  return 'Hello, world!';\n}\n\nif (require.main === module) console.log(${camel(fn)}());\nmodule.exports = { ${camel(fn)} };`,
    stub: (fn, task) =>
      `/** ${task.replace(/\*\//g, '* /')} */\nfunction ${camel(fn)}(...args) {\n  throw new Error('offline model: fill in the logic');\n}\n\nmodule.exports = { ${camel(fn)} };`,
    usage: (fn, hello) =>
      hello
        ? `const assert = require('node:assert');\nconst { ${camel(fn)} } = require('./hello');\n\nassert.strictEqual(${camel(fn)}(), 'Hello, world!');`
        : `const assert = require('node:assert');\nconst { ${camel(fn)} } = require('./solution');\n\nassert.strictEqual(typeof ${camel(fn)}, 'function');`,
    code: {
      language: 'node',
      extension: 'js',
      testFile: (module) => `${module}.test.js`,
      test: (fn, hello, module) =>
        `const test = require('node:test');\nconst assert = require('node:assert');\nconst { ${camel(fn)} } = require('./${module}');\n\n` +
        (hello
          ? `test('${camel(fn)} greets', () => {\n  assert.strictEqual(${camel(fn)}(), 'Hello, world!');\n});`
          : `test('${camel(fn)} exists', () => {\n  assert.strictEqual(typeof ${camel(fn)}, 'function');\n});`),
    },
  },
  {
    // After Python and JavaScript ("a Python function that runs a shell command" stays Python),
    // before Go, whose pattern also matches the verb "go".
    name: 'Bash',
    fence: 'bash',
    pattern: /\bbash\b|\bshell\b|\bsh\b/i,
    hello: (fn) =>
      `#!/usr/bin/env bash\n\n${fn}() {\n  echo "Hello, world!"\n}\n\n# Run when executed, not when sourced.\nif [[ "\${BASH_SOURCE[0]}" == "$0" ]]; then\n  set -euo pipefail\n  ${fn}\nfi`,
    stub: (fn, task) =>
      `#!/usr/bin/env bash\n# ${task.split('\n')[0]}\n\n${fn}() {\n  echo "offline model: fill in the logic" >&2\n  return 1\n}\n\n# Run when executed, not when sourced.\nif [[ "\${BASH_SOURCE[0]}" == "$0" ]]; then\n  set -euo pipefail\n  ${fn} "$@"\nfi`,
    usage: (fn, hello) =>
      hello
        ? `source ./hello.sh\n[[ "$(${fn})" == "Hello, world!" ]] && echo "ok: ${fn} greets"`
        : `source ./solution.sh\ndeclare -F ${fn} >/dev/null && echo "ok: ${fn} is defined"`,
    code: {
      language: 'bash',
      extension: 'sh',
      testFile: (module) => `test_${module}.sh`,
      // Exits non-zero on the first failed check: the verifier counts a test file by its exit code.
      test: (fn, hello, module) =>
        `#!/usr/bin/env bash\nset -euo pipefail\nsource ./${module}.sh\n\n` +
        (hello
          ? `got="$(${fn})"\n[[ "$got" == "Hello, world!" ]] || { echo "expected the greeting, got: $got" >&2; exit 1; }\necho "ok: ${fn} greets"`
          : `declare -F ${fn} >/dev/null || { echo "${fn} is not defined" >&2; exit 1; }\necho "ok: ${fn} is defined"`),
    },
  },
  {
    name: 'Go',
    fence: 'go',
    pattern: /\bgo\b|golang/i,
    hello: () =>
      `package main\n\nimport "fmt"\n\n// HelloWorld returns the classic greeting.\nfunc HelloWorld() string {\n\treturn "Hello, world!"\n}\n\nfunc main() {\n\tfmt.Println(HelloWorld())\n}`,
    stub: (fn, task) =>
      `package solution\n\n// ${camel(fn)}: ${task.split('\n')[0]}\nfunc ${camel(fn)}() error {\n\tpanic("offline model: fill in the logic")\n}`,
    usage: (fn, hello) =>
      hello
        ? `package main\n\nimport "testing"\n\nfunc TestHelloWorld(t *testing.T) {\n\tif got := HelloWorld(); got != "Hello, world!" {\n\t\tt.Fatalf("got %q", got)\n\t}\n}`
        : `go test ./...  # add a table test for ${camel(fn)}`,
  },
  {
    name: 'Rust',
    fence: 'rust',
    pattern: /\brust\b|cargo/i,
    hello: (fn) => `pub fn ${fn}() -> &'static str {\n    "Hello, world!"\n}\n\nfn main() {\n    println!("{}", ${fn}());\n}`,
    stub: (fn, task) => `/// ${task.split('\n')[0]}\npub fn ${fn}() {\n    todo!("offline model: fill in the logic")\n}`,
    usage: (fn, hello) =>
      hello ? `#[test]\nfn greets() {\n    assert_eq!(${fn}(), "Hello, world!");\n}` : `cargo test  # add a unit test for ${fn}`,
  },
];

const STOP_WORDS = new Set(
  'a an the and or to of for in on with that which is are be create write make build implement code function script program class simple small using please can you me my new'.split(
    ' ',
  ),
);

function functionName(task: string, language: Language | undefined): string {
  const words = task
    .toLowerCase()
    .replace(/[^a-z0-9\s]/g, ' ')
    .split(/\s+/)
    .filter((w) => w && !STOP_WORDS.has(w) && !(language && language.pattern.test(w)));
  const name = words
    .slice(0, 3)
    .join('_')
    .replace(/^[0-9_]+/, '');
  return name || 'solution';
}

function analyse(task: string) {
  const language = LANGUAGES.find((l) => l.pattern.test(task));
  const hello = /hello[\s,_-]*world/i.test(task);
  const codeLike = Boolean(language) || /\b(function|script|program|class|api|cli|code)\b/i.test(task);
  return {
    language: language ?? (codeLike ? LANGUAGES[0] : undefined),
    hello,
    fn: functionName(task.replace(FAILS_FIRST, ' '), language),
    failsFirst: FAILS_FIRST.test(task),
  };
}

function firstLine(task: string, max = 120): string {
  const line = task.split('\n')[0].trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export function offlinePlan(task: string): Plan {
  const { language } = analyse(task);
  const subject = firstLine(task, 80);
  const plan: Plan = language
    ? {
        summary: `(offline model) Pin down what "${subject}" needs, write it in ${language.name}, then show how to use and check it.`,
        steps: [
          { title: 'Pin down the requirements', instructions: `State the inputs, the output and the edge cases of: ${subject}` },
          {
            title: `Write the ${language.name} code`,
            instructions: language.code
              ? `Implement it in ${language.name} with clear names and a docstring, with a test beside it.`
              : `Implement it in ${language.name} with clear names and a docstring.`,
            ...(language.code ? { code: { language: language.code.language } } : {}),
          },
          { title: 'Show usage and a test', instructions: 'Give a usage example and a small automated test.' },
        ],
      }
    : {
        summary: `(offline model) Outline an answer to "${subject}", write it, then review it.`,
        steps: [
          { title: 'Outline the answer', instructions: `List the points an answer to "${subject}" must cover.` },
          { title: 'Write the draft', instructions: 'Write the answer in clear Markdown, following the outline.' },
          { title: 'Review and summarise', instructions: 'Check the draft against the task and sum it up in a few lines.' },
        ],
      };
  return PlanSchema.parse(plan);
}

export function offlineStepText(input: StepInput): string {
  const { language, hello, fn, failsFirst } = analyse(input.task);
  const subject = firstLine(input.task);
  const note = '_Written by the offline model: set OPENAI_API_KEY to use a real one._';
  const step = input.stepIndex;
  if (language) {
    if (step === 0) {
      return [
        `**Goal:** ${subject}`,
        '',
        `- Language: ${language.name}`,
        `- Entry point: \`${['python', 'rust', 'bash'].includes(language.fence) ? fn : camel(fn)}\``,
        hello ? '- Output: the string "Hello, world!"' : '- Output: what the task describes; inputs validated up front',
        hello ? '- Edge cases: none (it takes no input)' : '- Edge cases: empty input, invalid input',
        '',
        note,
      ].join('\n');
    }
    if (step === 1) {
      const code = hello ? language.hello(fn) : language.stub(fn, subject);
      if (!language.code) return `\`\`\`${language.fence}\n${code}\n\`\`\`\n\n${note}`;
      return codeFiles(language, language.code, { fn, hello, code, note, failsFirst, retry: input.verification });
    }
    return `Usage and a test:\n\n\`\`\`${language.fence}\n${language.usage(fn, hello)}\n\`\`\`\n\n${note}`;
  }
  const outline = ['What is asked', 'What matters most', 'A concrete next step'];
  if (step === 0) return `${outline.map((o, i) => `${i + 1}. ${o}`).join('\n')}\n\n${note}`;
  if (step === 1) {
    return `### ${subject}\n\n${outline.map((o) => `**${o}.** An offline draft cannot know more than the task says: "${subject}".`).join('\n\n')}\n\n${note}`;
  }
  return `The draft covers the task's question in ${outline.length} parts. Run with a real model for a substantive answer.\n\n${note}`;
}

/** A verifiable code step: the module and its test, each under a `File:` line; in a failing round, with a bug. */
function codeFiles(
  language: Language,
  spec: NonNullable<Language['code']>,
  {
    fn,
    hello,
    code,
    note,
    failsFirst,
    retry,
  }: { fn: string; hello: boolean; code: string; note: string; failsFirst: boolean; retry: StepInput['verification'] },
): string {
  const module = hello ? 'hello' : 'solution';
  const buggy = failsFirst && !retry;
  // The bug: a greeting without its comma, or the function under a name the test does not import.
  const written = !buggy
    ? code
    : hello
      ? code.replace('Hello, world!', 'Hello world!')
      : code.replaceAll(fn, `${fn}_draft`).replaceAll(camel(fn), `${camel(fn)}Draft`);
  const block = (path: string, text: string) => `File: ${path}\n\`\`\`${language.fence}\n${text}\n\`\`\``;
  return [
    ...(retry ? [`Round ${retry.round}: the last version did not pass (${retry.previous.summary}) This one fixes it.`, ''] : []),
    block(`${module}.${spec.extension}`, written),
    '',
    block(spec.testFile(module), spec.test(fn, hello, module)),
    '',
    note,
  ].join('\n');
}

function approxUsage(prompt: string, completion: string): TokenUsage {
  const promptTokens = Math.ceil(prompt.length / 4);
  const completionTokens = Math.ceil(completion.length / 4);
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}

/** Small pieces (a few words each), the way a model streams. */
export function chunkText(text: string): string[] {
  return text.match(/(\S+\s*){1,3}|\s+/g) ?? [];
}

/** The wait before each chunk; it must end early, rejecting, when `signal` aborts. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

const realSleep: Sleep = (ms, signal) => sleep(ms, undefined, { signal });

export class OfflineProvider implements LlmProvider {
  readonly model = OFFLINE_MODEL;

  /** `wait` is for tests, which count the waits instead of timing them. */
  constructor(
    private readonly delayMs: number,
    private readonly wait: Sleep = realSleep,
  ) {}

  async plan(task: string, signal: AbortSignal): Promise<PlanOutput> {
    signal.throwIfAborted();
    const plan = offlinePlan(task);
    return { plan, usage: approxUsage(task, JSON.stringify(plan)) };
  }

  async writeStep(input: StepInput, { signal, onText, maxChars: outputCap, maxTokens }: WriteStepOptions): Promise<StepOutput> {
    const text = offlineStepText(input);
    // A budget caps the output as it caps a real model's (four characters to a token).
    const budgetChars = maxTokens !== undefined && Number.isFinite(maxTokens) ? Math.max(0, maxTokens * 4) : Infinity;
    const maxChars = Math.min(outputCap, budgetChars);
    let output = '';
    for (const chunk of chunkText(text)) {
      // A timer even at 0 ms keeps the event loop (heartbeats, cancellation) turning.
      await this.wait(this.delayMs, signal);
      const piece = chunk.slice(0, maxChars - output.length);
      output += piece;
      onText(piece);
      if (output.length >= maxChars) {
        return {
          output,
          truncated: true,
          usage: approxUsage(input.task, output),
          ...(output.length >= budgetChars ? { budgetCut: true } : {}),
        };
      }
    }
    return { output, truncated: false, usage: approxUsage(input.task + input.digest, output) };
  }
}
