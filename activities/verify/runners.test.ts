/** Which Python files unittest runs in full (so that the cheaper runner is used), without a sandbox. */
import { unittestRunsAll } from './runners';

const UNITTEST =
  'import unittest\nfrom calc import add\n\n\nclass AddTest(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(1, 2), 3)\n';

test.each([
  ['a TestCase file', { 'calc.py': 'def add(a, b):\n    return a + b\n', 'test_calc.py': UNITTEST }, true],
  [
    'TestCase imported by name, async TestCase',
    {
      'calc_test.py':
        'from unittest import IsolatedAsyncioTestCase, TestCase\n\nclass TestAdd(TestCase):\n    pass\n\nclass TestAsync(IsolatedAsyncioTestCase):\n    async def test_x(self):\n        pass\n',
    },
    true,
  ],
  ['a module that is not a test may say anything', { 'pytest_helpers.py': 'import pytest\n', 'test_calc.py': UNITTEST }, true],
  ['pytest imported', { 'test_calc.py': `import pytest\n${UNITTEST}` }, false],
  [
    'a pytest mark without its import line',
    { 'test_calc.py': `${UNITTEST}\n    @pytest.mark.slow\n    def test_slow(self):\n        pass\n` },
    false,
  ],
  ['a test function at module level', { 'test_calc.py': `${UNITTEST}\n\ndef test_more():\n    assert add(2, 2) == 4\n` }, false],
  ['an async test function at module level', { 'test_calc.py': `${UNITTEST}\n\nasync def test_more():\n    pass\n` }, false],
  [
    'a Test class outside TestCase',
    { 'test_calc.py': `${UNITTEST}\n\nclass TestPlain:\n    def test_x(self):\n        assert True\n` },
    false,
  ],
  [
    'a Test class with another base',
    { 'test_calc.py': `${UNITTEST}\n\nclass TestMixed(Base):\n    def test_x(self):\n        assert True\n` },
    false,
  ],
  ['no unittest at all', { 'test_calc.py': 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n' }, false],
  ['a test file in a directory (pytest would put it on sys.path for its imports)', { 'tests/test_calc.py': UNITTEST }, false],
  ['a conftest.py beside', { 'test_calc.py': UNITTEST, 'conftest.py': '' }, false],
  ['one of two test files is pytest style', { 'test_a.py': UNITTEST, 'test_b.py': 'def test_b():\n    assert True\n' }, false],
])('%s', (_name, files, expected) => {
  expect(unittestRunsAll(Object.entries(files).map(([path, content]) => ({ path, content })))).toBe(expected);
});
