/** Tailwind classes of the app's forms (the task form, sign-in), so they look and focus alike. */

/** A text input or textarea; add the border colour (`border-slate-700`, or red on an error). */
export const TEXT_FIELD =
  'block w-full rounded-md border bg-slate-900 px-3 py-2 text-slate-100 focus:outline-none focus:ring-2 focus:ring-sky-500';

/** The form's main button. */
export const SUBMIT_BUTTON =
  'rounded-md bg-sky-600 px-4 py-2 font-medium text-white hover:bg-sky-500 focus:outline-none focus:ring-2 focus:ring-sky-400 focus:ring-offset-2 focus:ring-offset-slate-950 disabled:cursor-wait disabled:opacity-60';
