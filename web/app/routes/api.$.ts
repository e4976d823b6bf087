/** Anything under /api that is not an API route: a problem, not the app's HTML 404 page. */
import { problem } from '~/utils/api.server';

const notAnApiRoute = () => problem({ title: 'No such API route', status: 404, detail: 'The routes are listed in /api/v1/openapi.json.' });

export const loader = notAnApiRoute;
export const action = notAnApiRoute;
