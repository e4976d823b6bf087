/** Example tasks offered on the home page; the first is the smoke test's task. */
export const EXAMPLE_TASKS = [
  'Create a hello world python function',
  'Write a bash script that backs up a directory to a dated tar.gz',
  'Design a REST API for a todo list with users and tags',
  'Explain how Temporal retries a failed activity, with a short example',
] as const;
