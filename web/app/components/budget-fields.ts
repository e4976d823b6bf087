/** The home form's limit fields by limit, for the form (browser) and its reader (budget-form.server.ts). */
export const BUDGET_FIELD_NAMES = {
  tokens: 'budgetTokens',
  cost: 'budgetCost',
  timeMs: 'budgetTime',
  steps: 'budgetSteps',
} as const;
