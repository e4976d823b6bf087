import { parsePrometheus, percentile } from './stats';

test('percentiles are nearest-rank, and NaN for no values', () => {
  const values = [50, 10, 40, 20, 30];
  expect([percentile(values, 50), percentile(values, 95), percentile(values, 100)]).toEqual([30, 50, 50]);
  expect(percentile([7], 50)).toBe(7);
  expect(percentile([], 50)).toBeNaN();
});

test('the Prometheus text gives each sample its name, labels and value', () => {
  const text = '# HELP x\nbuildstory_sse_connections 3\nbuildstory_temporal_rpcs_total{method="Query",code="ok"} 12\n';
  expect(parsePrometheus(text)).toEqual([
    { name: 'buildstory_sse_connections', labels: {}, value: 3 },
    { name: 'buildstory_temporal_rpcs_total', labels: { method: 'Query', code: 'ok' }, value: 12 },
  ]);
});
