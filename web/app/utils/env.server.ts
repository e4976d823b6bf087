/**
 * The web app's configuration: loaded once, validated at start. A bad setting prints the one line
 * that names it and stops the process, so the app never serves with a broken configuration.
 *
 * No `~` imports here: web/server.ts (run by tsx, outside Vite) imports this module too.
 */
import { ConfigError, loadWebConfig, type WebConfig } from '../../../config/web';

let cached: WebConfig | undefined;

export function getConfig(): WebConfig {
  if (cached) return cached;
  try {
    cached = loadWebConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  return cached;
}
