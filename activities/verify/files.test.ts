/** Files from a step's Markdown: the convention, its variants, and what is refused. */
import { VERIFY_LIMITS } from '../../contract/data';
import { extractFiles, unsafePath } from './files';

const block = (lang: string, body: string) => `\`\`\`${lang}\n${body}\n\`\`\``;

test('the convention: a File: line above each fenced block; unnamed blocks are examples, left out', () => {
  const markdown = [
    'Here is the module.',
    '',
    'File: hello.py',
    block('python', 'def hello():\n    return "Hello, world!"'),
    '',
    'Run it like this:',
    block('bash', 'python3 hello.py'),
    '',
    'File: tests/test_hello.py',
    '',
    block('python', 'import unittest'),
  ].join('\n');
  expect(extractFiles(markdown)).toEqual({
    files: [
      { path: 'hello.py', content: 'def hello():\n    return "Hello, world!"\n' },
      { path: 'tests/test_hello.py', content: 'import unittest\n' },
    ],
    rejected: [],
  });
});

test.each([
  ['**File:** `a.py`', block('python', 'x = 1')],
  ['### a.py', block('python', 'x = 1')],
  ['**a.py**', block('python', 'x = 1')],
  ['`a.py`:', block('python', 'x = 1')],
  ['- file: ./a.py', block('python', 'x = 1')],
  ['', block('python title="a.py"', 'x = 1')],
  ['', block('python:a.py', 'x = 1')],
  ['', block('python a.py', 'x = 1')],
  ['', '~~~python\nx = 1\n~~~'.replace('~~~python', '~~~ a.py')],
])('a lenient variant names the file: %s %s', (above, fenced) => {
  expect(extractFiles(`${above}\n${fenced}`).files).toEqual([{ path: 'a.py', content: 'x = 1\n' }]);
});

test('a name on the first line inside the block, kept as the comment it is', () => {
  expect(extractFiles(block('js', '// file: lib/sum.js\nmodule.exports = 1;')).files).toEqual([
    { path: 'lib/sum.js', content: '// file: lib/sum.js\nmodule.exports = 1;\n' },
  ]);
});

test('names with underscores survive the Markdown cleanup, and a file written twice keeps its later version', () => {
  const markdown = ['File: my_mod.py', block('python', 'v = 1'), 'File: my_mod.py', block('python', 'v = 2')].join('\n');
  expect(extractFiles(markdown).files).toEqual([{ path: 'my_mod.py', content: 'v = 2\n' }]);
});

test('unsafe names are refused, with why, and never become files', () => {
  const names = [
    '../escape.py',
    '/etc/passwd',
    'a/../../b.py',
    '.bashrc',
    'dir/.hidden/x.py',
    'a b.py',
    'a\\b.py',
    'x$(id).sh',
    'a/b/c/d/e.py',
  ];
  const markdown = names.map((name) => `File: ${name}\n${block('python', 'x = 1')}`).join('\n\n');
  const { files, rejected } = extractFiles(markdown);
  expect(files).toEqual([]);
  expect(rejected.map((r) => r.name)).toEqual(names);
  expect(rejected.every((r) => r.why.length > 0)).toBe(true);
  expect(unsafePath('ok/fine_name-1.py')).toBeNull();
});

test('no named blocks: no files', () => {
  expect(extractFiles(`Just prose.\n\n${block('python', 'print(1)')}\n`)).toEqual({ files: [], rejected: [] });
  expect(extractFiles('')).toEqual({ files: [], rejected: [] });
});

test('an oversized file, and files beyond the count, are refused', () => {
  const big = 'x'.repeat(VERIFY_LIMITS.maxFileBytes + 1);
  expect(extractFiles(`File: big.py\n${block('python', big)}`)).toEqual({
    files: [],
    rejected: [{ name: 'big.py', why: `larger than ${VERIFY_LIMITS.maxFileBytes} bytes` }],
  });
  const many = Array.from({ length: VERIFY_LIMITS.maxFiles + 2 }, (_, i) => `File: f${i}.py\n${block('python', `v = ${i}`)}`).join('\n');
  const { files, rejected } = extractFiles(many);
  expect(files).toHaveLength(VERIFY_LIMITS.maxFiles);
  expect(rejected).toEqual([
    { name: `f${VERIFY_LIMITS.maxFiles}.py`, why: `more than ${VERIFY_LIMITS.maxFiles} files` },
    { name: `f${VERIFY_LIMITS.maxFiles + 1}.py`, why: `more than ${VERIFY_LIMITS.maxFiles} files` },
  ]);
});
