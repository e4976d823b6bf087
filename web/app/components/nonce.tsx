/**
 * The Content-Security-Policy nonce of this response (web/server.ts makes one per request), for
 * the few inline scripts Remix renders. Browsers hide nonce attributes from scripts, so the client
 * renders with '' and React keeps the server's attribute.
 */
import { createContext, useContext } from 'react';

const NonceContext = createContext<string>('');

export const NonceProvider = NonceContext.Provider;

export function useNonce(): string {
  return useContext(NonceContext);
}
