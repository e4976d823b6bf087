import type { LlmConfig } from '../../config';
import { OfflineProvider } from './offline';
import { OpenAiProvider } from './openai';
import type { LlmProvider } from './provider';

export type { LlmProvider } from './provider';

/** The OpenAI-compatible model when a key is set; otherwise the embedded offline model. */
export function createProvider(llm: LlmConfig): LlmProvider {
  return llm.kind === 'openai' ? new OpenAiProvider(llm) : new OfflineProvider(llm.delayMs);
}
