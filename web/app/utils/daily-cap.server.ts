/** The daily spend cap, checked before a run starts: from the home form and from the API. */
import { formatCost } from '../components/format';
import { getConfig } from './env.server';
import type { Owner } from './run-owner.server';
import { spendToday } from './run-list.server';

/** Why a new run would pass the user's daily spend cap, or null when it would not (or there is none). */
export async function overDailyCap(owner: Owner): Promise<string | null> {
  const cap = getConfig().dailySpendCap;
  if (cap === null) return null;
  const today = await spendToday(owner, { fresh: true });
  // Unknown (Temporal unreachable): the start fails on its own with a clear message.
  if (!today || today.spend.cost < cap) return null;
  return `Today's spend is ${formatCost(today.spend.cost)}, and the daily cap is ${formatCost(cap)}: nothing was started. The cap resets at midnight UTC.`;
}
