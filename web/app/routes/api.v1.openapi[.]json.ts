/** The API's OpenAPI 3.1 document, generated from the schemas the handlers parse with (api-schemas.server.ts). */
import { openApiDocument } from '~/utils/api-schemas.server';
import { json, methodNotAllowed } from '~/utils/api.server';

export function loader() {
  return json(openApiDocument());
}

export const action = methodNotAllowed('GET');
