/** The home form's submission, validated with the workflow's own task schema. */
import { z } from 'zod';
import { TaskTextSchema } from '../../../contract/schemas';

const TaskFormSchema = z.object({
  task: TaskTextSchema,
  token: z
    .string({ required_error: 'The form is missing its token: reload the page.' })
    .uuid('The form token is not valid: reload the page.')
    .transform((token) => token.toLowerCase()),
});

export interface TaskFormValues {
  task: string;
  token: string;
  /** "Review the plan before it runs" (a checkbox: present when checked). */
  review: boolean;
}

export type TaskFormResult =
  | { ok: true; task: string; token: string; review: boolean }
  | { ok: false; values: TaskFormValues; fieldErrors: Partial<Record<'task' | 'token', string>> };

export function parseTaskForm(form: FormData): TaskFormResult {
  const raw = { task: form.get('task'), token: form.get('token') };
  // What the user typed goes back to the form as it was, so nothing is lost on an error.
  const values: TaskFormValues = {
    task: typeof raw.task === 'string' ? raw.task : '',
    token: typeof raw.token === 'string' ? raw.token : '',
    review: form.get('review') === 'on',
  };
  const parsed = TaskFormSchema.safeParse({
    task: typeof raw.task === 'string' ? raw.task : undefined,
    token: typeof raw.token === 'string' ? raw.token : undefined,
  });
  if (parsed.success) return { ok: true, ...parsed.data, review: values.review };
  const fieldErrors: Partial<Record<'task' | 'token', string>> = {};
  for (const issue of parsed.error.issues) {
    const field = issue.path[0];
    if ((field === 'task' || field === 'token') && !fieldErrors[field]) fieldErrors[field] = issue.message;
  }
  return { ok: false, values, fieldErrors };
}
