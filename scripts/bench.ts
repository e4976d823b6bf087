/** `npm run bench`: the benchmark in bench/ (see bench/README.md). */
import { runBench } from '../bench';

runBench().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`[bench] ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
