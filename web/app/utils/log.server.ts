import pino from 'pino';
import { getConfig } from './env.server';

/** One logger for the web process; JSON lines like the worker's. */
export const log = pino({ name: 'web', level: getConfig().logLevel });
