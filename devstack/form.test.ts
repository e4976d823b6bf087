import { runIdFromRedirect } from './form';

const answer = (status: number, location?: string) => new Response(null, { status, headers: location ? { location } : {} });

test('the run id is the one the form redirected to, whatever the token was', () => {
  // With access control on, the id is derived from the token and the user: not `task-<token>`.
  expect(runIdFromRedirect(answer(302, '/runs/task-5d41402a-bc4b-5a76-b971-9d911017c592'))).toBe(
    'task-5d41402a-bc4b-5a76-b971-9d911017c592',
  );
});

test('an answer that did not start a run has no run id', () => {
  expect(runIdFromRedirect(answer(302, '/login?next=%2F'))).toBeNull();
  expect(runIdFromRedirect(answer(303, '/runs/task-1'))).toBeNull();
  expect(runIdFromRedirect(answer(400))).toBeNull();
  expect(runIdFromRedirect(answer(503))).toBeNull();
});
