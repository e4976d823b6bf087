/** A writer for local.test.ts to kill: puts the file SOURCE_FILE into the local store at ARTIFACTS_ROOT. */
import { readFileSync } from 'node:fs';
import { LocalArtifactStore } from '../local';

const store = new LocalArtifactStore({ root: process.env.ARTIFACTS_ROOT!, encryption: null });
void store.put(readFileSync(process.env.SOURCE_FILE!)).then(() => process.stdout.write('stored\n'));
